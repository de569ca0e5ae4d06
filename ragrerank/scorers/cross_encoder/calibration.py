"""The built-in calibration sample for static int8 quantization: 64 generic (query, passage)
pairs written for ragrerank (no data set copied), over many topics, half of them relevant.

Static quantization fixes each activation's int8 range from what the model sees on these
pairs, so they should look like reranking inputs: a question and a passage of a few
sentences. The caller's own candidates (``calibration=``) fit their domain better.
"""

from __future__ import annotations

__all__ = ["SAMPLE"]

_TOPICS: tuple[tuple[str, str, str], ...] = (
    (
        "how does aspirin reduce the risk of heart attack",
        "Aspirin blocks the enzyme cyclooxygenase in platelets, which lowers the production of "
        "thromboxane. With less thromboxane, platelets clump together less readily, so clots "
        "that could block a coronary artery are less likely to form.",
        "The annual rainfall in the coastal region has declined over the last three decades, "
        "and farmers have moved from rice to crops that need less water.",
    ),
    (
        "what causes the seasons on earth",
        "Seasons follow from the tilt of the Earth's axis, about 23.4 degrees. For part of the "
        "orbit one hemisphere leans toward the Sun and receives more direct light and longer "
        "days; half a year later it leans away.",
        "A sourdough starter is a mixture of flour and water colonised by wild yeast and lactic "
        "acid bacteria, fed daily to keep it active.",
    ),
    (
        "symptoms of vitamin d deficiency in adults",
        "Low vitamin D in adults often causes no symptoms at first. Over time it can lead to "
        "bone pain, muscle weakness and a higher risk of fractures, because the body absorbs "
        "less calcium from food.",
        "The committee approved the new zoning plan after a public hearing that lasted until "
        "late in the evening.",
    ),
    (
        "python list comprehension with a condition",
        "A list comprehension can filter items with a trailing if clause: [x * 2 for x in "
        "values if x > 0] doubles only the positive numbers and skips the rest.",
        "Java interfaces declare methods that implementing classes must provide; since Java 8 "
        "they may also contain default methods with a body.",
    ),
    (
        "when was the printing press invented",
        "Johannes Gutenberg developed a movable-type printing press in Mainz around 1440. "
        "Within a few decades print shops had spread across Europe, and the price of books "
        "fell sharply.",
        "Tea was introduced to England in the seventeenth century and became fashionable at "
        "court after the marriage of Charles II.",
    ),
    (
        "how do vaccines train the immune system",
        "A vaccine presents the immune system with a harmless form of an antigen, such as an "
        "inactivated virus or a protein fragment. B and T cells that recognise it multiply, and "
        "memory cells remain that respond quickly to a later infection.",
        "Antibiotics act on bacteria, not viruses; taking them for a cold does not shorten the "
        "illness and contributes to resistance.",
    ),
    (
        "best way to store fresh herbs",
        "Soft herbs such as parsley and coriander keep longest with their stems in a glass of "
        "water in the fridge, loosely covered with a bag. Woody herbs like rosemary do better "
        "wrapped in a damp paper towel.",
        "The museum reopened its east wing after a renovation that replaced the roof and the "
        "climate control system.",
    ),
    (
        "difference between a virus and a bacterium",
        "Bacteria are single-celled organisms with their own metabolism that can live and "
        "divide on their own. Viruses are much smaller, have no metabolism and can only "
        "replicate inside the cells of a host.",
        "Viral marketing campaigns rely on users sharing content with their friends rather than "
        "on paid advertising.",
    ),
    (
        "how to reduce memory usage of a pandas dataframe",
        "Converting columns to smaller dtypes saves memory: integers to int32 or int16 where "
        "the range allows, repeated strings to the category dtype, and floats to float32 when "
        "the precision is enough.",
        "The library's documentation moved to a new site, and the old pages now redirect to "
        "the matching sections.",
    ),
    (
        "what is the boiling point of water at high altitude",
        "Water boils at a lower temperature at altitude because the air pressure is lower. At "
        "about 3,000 metres it boils near 90 degrees Celsius, which is why cooking times for "
        "pasta or eggs get longer in the mountains.",
        "Mountain bikes use wider tyres and suspension forks to handle rough trails and steep "
        "descents.",
    ),
    (
        "effects of sleep deprivation on memory",
        "During deep sleep the brain replays and consolidates what was learned during the day. "
        "People kept awake for a night remember fewer new facts the next day, and the "
        "hippocampus shows weaker activity while they try to learn.",
        "The sleeping bag is rated to minus five degrees and packs down to the size of a "
        "water bottle.",
    ),
    (
        "how does a heat pump work",
        "A heat pump moves heat instead of generating it: a refrigerant evaporates at low "
        "pressure, absorbing heat from outside air or the ground, and is then compressed so it "
        "condenses and releases that heat indoors.",
        "Electric kettles switch off automatically when a bimetallic strip bends as the steam "
        "heats it.",
    ),
    (
        "causes of the french revolution",
        "By 1789 France faced a fiscal crisis from war debts, poor harvests that raised bread "
        "prices, and a tax system that spared the nobility and clergy. The calling of the "
        "Estates-General gave these grievances a political stage.",
        "The French press brews coffee by steeping coarse grounds in hot water and pressing a "
        "mesh filter down.",
    ),
    (
        "is coffee bad for blood pressure",
        "Caffeine can raise blood pressure for a few hours after a cup, especially in people "
        "who rarely drink coffee. In regular drinkers the effect is smaller, and long-term "
        "studies have not linked moderate intake to hypertension.",
        "The coffee table is made of reclaimed oak and has a lower shelf for magazines.",
    ),
    (
        "how to center a div in css",
        "With flexbox, set the parent to display: flex with justify-content: center and "
        "align-items: center; the child is centred horizontally and vertically. Grid offers "
        "place-items: center for the same result.",
        "The form validates email addresses on the server and shows the error next to the "
        "field that failed.",
    ),
    (
        "why do leaves change color in autumn",
        "As days shorten, trees stop producing chlorophyll, the green pigment, and it breaks "
        "down. Yellow and orange carotenoids that were there all along become visible, and "
        "some species make red anthocyanins from trapped sugars.",
        "The publisher released the novel's third volume in October with a new cover design.",
    ),
    (
        "what is the role of insulin",
        "Insulin is a hormone made by beta cells in the pancreas. It signals muscle, fat and "
        "liver cells to take up glucose from the blood, and it tells the liver to store glucose "
        "as glycogen rather than release it.",
        "The orchestra tuned to the oboe's A before the conductor walked on stage.",
    ),
    (
        "how long should a software code review take",
        "Reviews are most effective on small changes: a few hundred lines can be read "
        "carefully in under an hour. Beyond that, reviewers find fewer defects per line, so "
        "large changes are better split.",
        "The city's bike-sharing scheme added two hundred stations and an electric model.",
    ),
    (
        "what are black holes made of",
        "A black hole forms when matter collapses so densely that not even light can escape "
        "its gravity. Outside the event horizon it is described by mass, spin and charge alone; "
        "what happens to matter at the centre is not understood.",
        "Black tea is fully oxidised before drying, which gives it a darker colour and a "
        "stronger taste than green tea.",
    ),
    (
        "benefits of strength training for older adults",
        "Resistance exercise two or three times a week helps older adults keep muscle mass and "
        "bone density, improves balance and lowers the risk of falls. Gains appear even in "
        "people who start in their seventies.",
        "The bank raised its savings rate by a quarter point, the second increase this year.",
    ),
    (
        "how is glass made",
        "Glass is made by melting silica sand with soda ash and limestone at around 1,500 "
        "degrees Celsius. The melt is shaped by floating it on molten tin for flat sheets, or "
        "by blowing and moulding for bottles, and then cooled slowly.",
        "The glass frog has translucent skin on its belly through which its organs are visible.",
    ),
    (
        "what does a database index do",
        "An index is a separate data structure, usually a B-tree, that keeps a column's values "
        "in sorted order with pointers to the rows. Lookups and range queries on that column "
        "then read a few pages instead of scanning the whole table.",
        "The book's index lists every place name mentioned in the travel diaries.",
    ),
    (
        "how do bees make honey",
        "Forager bees collect nectar and store it in a honey stomach, where enzymes start to "
        "break sucrose into glucose and fructose. Back in the hive the nectar is passed between "
        "bees and fanned until enough water evaporates.",
        "Spelling bees test children on words drawn from a published list for each round.",
    ),
    (
        "risk factors for type 2 diabetes",
        "Excess body weight, physical inactivity, a family history of diabetes and older age "
        "all raise the risk of type 2 diabetes. Some ethnic groups are at higher risk, and a "
        "history of gestational diabetes also counts.",
        "The hiking route follows the river for eight kilometres before climbing to the pass.",
    ),
    (
        "how do noise cancelling headphones work",
        "Microphones on the ear cups pick up outside sound, and the electronics play an "
        "inverted copy of it through the speakers. The two waves cancel, which works best for "
        "steady low-frequency noise such as engines.",
        "The concert hall's acoustics were tuned with movable panels above the stage.",
    ),
    (
        "what is inflation and what causes it",
        "Inflation is a sustained rise in the general price level. It can come from demand "
        "outgrowing what the economy can produce, from rising costs such as energy, or from "
        "expectations that prices will keep going up.",
        "Inflatable kayaks fold into a backpack and are pumped up in about ten minutes.",
    ),
    (
        "how accurate are rapid antigen tests",
        "Rapid antigen tests detect most infections when viral load is high, around the time "
        "symptoms start, but miss more cases early and late in an infection. A positive result "
        "is usually reliable; a negative one is less so.",
        "The exam allows a calculator but no notes, and lasts two and a half hours.",
    ),
    (
        "git undo last commit but keep changes",
        "Running git reset --soft HEAD~1 moves the branch back one commit and leaves the "
        "changes staged; git reset HEAD~1 leaves them in the working tree unstaged. Neither "
        "deletes your edits.",
        "The garden gate was repainted green and its hinges were replaced last spring.",
    ),
    (
        "why is the sky blue",
        "Sunlight is scattered by the molecules of the air, and shorter wavelengths scatter "
        "much more strongly than longer ones. Blue light therefore reaches us from every "
        "direction of the sky, while the sun itself looks slightly yellow.",
        "Blue cheese gets its veins from Penicillium moulds added to the milk or the curds.",
    ),
    (
        "how does compound interest work",
        "With compound interest, the interest earned each period is added to the balance, so "
        "the next period's interest is computed on a larger amount. Over long horizons this "
        "makes savings grow roughly exponentially.",
        "The research group studies the interest of teenagers in science careers.",
    ),
    (
        "what do mitochondria do in a cell",
        "Mitochondria produce most of a cell's ATP through oxidative phosphorylation, using "
        "oxygen to extract energy from nutrients. They also help regulate cell death and "
        "calcium levels, and they carry their own small genome.",
        "The cell phone plan includes unlimited calls and ten gigabytes of data per month.",
    ),
    (
        "how to prevent overfitting in a neural network",
        "Common remedies are more training data, data augmentation, weight decay, dropout and "
        "early stopping on a validation set. A smaller model or fewer training epochs also "
        "reduces how much the network memorises noise.",
        "The network of hiking huts is run by volunteers who stock them before the summer.",
    ),
)

SAMPLE: tuple[tuple[str, str], ...] = tuple(
    pair for query, relevant, other in _TOPICS for pair in ((query, relevant), (query, other))
)
