# ruff: noqa: E501 - prose lines, kept as written
"""Explanations written for this benchmark by the maestro-helix authors (Apache-2.0, like the repo).

Each entry is ``(subject, text)``: an encyclopaedia-style explanation of the subject, the kind of
answer a good agent gives to "explain X" or "describe X". Facts are general knowledge; the wording
is ours. The stdlib docstrings the generator also uses are the PSF's (PSF license).
"""

from __future__ import annotations

TEXTS: tuple[tuple[str, str], ...] = (
    (
        "photosynthesis",
        "Photosynthesis is the process by which green plants, algae and some bacteria turn light "
        "into chemical energy. Chlorophyll in the chloroplasts absorbs mostly red and blue light. "
        "That energy splits water molecules, releasing oxygen, and drives the Calvin cycle, which "
        "fixes carbon dioxide from the air into sugars such as glucose. The plant uses those sugars "
        "to grow and to store energy as starch. Almost all the oxygen in the atmosphere comes from "
        "this reaction, and nearly every food chain starts with it.",
    ),
    (
        "the offside rule in football",
        "In association football a player is in an offside position when any part of the head, "
        "body or feet is in the opponents' half and nearer to the goal line than both the ball and "
        "the second-last defender. Being there is not an offence by itself. The referee only "
        "penalises it when the ball is played by a team-mate and the player then interferes with "
        "play or with an opponent, or gains an advantage. A player cannot be offside directly from "
        "a throw-in, a goal kick or a corner kick. The sanction is an indirect free kick.",
    ),
    (
        "plate tectonics",
        "Plate tectonics is the theory that the Earth's outer shell, the lithosphere, is broken "
        "into large rigid plates that move slowly over the softer asthenosphere beneath them. "
        "Plates move a few centimetres a year, driven by mantle convection and by the pull of "
        "sinking slabs. Where they pull apart, at mid-ocean ridges, new crust forms; where they "
        "converge, one plate may dive under another in a subduction zone, building volcanic arcs "
        "and deep trenches. Most earthquakes and volcanoes occur along plate boundaries.",
    ),
    (
        "the water cycle",
        "The water cycle describes how water moves continuously between the oceans, the atmosphere "
        "and the land. Heat from the sun evaporates water from seas, lakes and soil, and plants "
        "release more through transpiration. The vapour rises, cools and condenses into clouds, "
        "which return the water as rain or snow. On land it runs off in rivers, soaks into "
        "groundwater or is stored for a time in glaciers before flowing back to the sea. The cycle "
        "redistributes heat around the planet and supplies the fresh water that life depends on.",
    ),
    (
        "compound interest",
        "Compound interest is interest calculated on the initial principal and also on the "
        "interest already added to it in earlier periods. Because each period's interest earns "
        "interest in turn, the balance grows exponentially rather than linearly. The future value "
        "is the principal multiplied by one plus the periodic rate, raised to the number of "
        "periods. The more often interest is compounded, the faster the balance grows, although "
        "the gain shrinks as the frequency rises. The same effect makes unpaid debts on credit "
        "cards grow quickly.",
    ),
    (
        "vaccination",
        "Vaccination trains the immune system to recognise a pathogen without causing the disease. "
        "A vaccine contains a weakened or inactivated germ, a piece of it such as a protein, or "
        "genetic instructions that let the body's cells make that piece. The immune system responds "
        "by producing antibodies and memory cells. If the real pathogen arrives later, those memory "
        "cells react quickly and stop the infection or make it milder. When enough people are "
        "immune, the spread slows even for those who cannot be vaccinated, an effect called herd "
        "immunity.",
    ),
    (
        "the French Revolution",
        "The French Revolution was a period of political and social upheaval in France that began "
        "in 1789 and lasted until the late 1790s. A financial crisis led King Louis XVI to summon "
        "the Estates-General, whose commoners declared themselves a National Assembly. The storming "
        "of the Bastille, the abolition of feudal privileges and the Declaration of the Rights of "
        "Man followed. The monarchy was abolished in 1792 and the king was executed. After the "
        "Reign of Terror and the Directory, Napoleon Bonaparte seized power in 1799.",
    ),
    (
        "black holes",
        "A black hole is a region of space where gravity is so strong that nothing, not even light, "
        "can escape once it crosses the boundary called the event horizon. Most form when a massive "
        "star collapses at the end of its life. Their mass can range from a few times that of the "
        "Sun to billions of solar masses for the supermassive black holes at the centres of "
        "galaxies. They are detected through their effect on nearby stars and gas, through X-rays "
        "from heated matter falling in, and through gravitational waves when two of them merge.",
    ),
    (
        "the rules of chess castling",
        "Castling is a special move in chess in which the king moves two squares towards one of its "
        "rooks and that rook jumps to the square the king crossed. It is the only move in which two "
        "pieces move at once. It is allowed only if neither the king nor that rook has moved before, "
        "the squares between them are empty, the king is not in check, and the king does not pass "
        "through or land on a square attacked by an enemy piece. Castling usually tucks the king "
        "away safely and brings the rook towards the centre.",
    ),
    (
        "inflation",
        "Inflation is a general rise in the prices of goods and services over time, which means "
        "each unit of money buys less. It is usually measured with a consumer price index that "
        "tracks the cost of a typical basket of purchases. Demand growing faster than supply, "
        "rising production costs such as energy or wages, and growth in the money supply can all "
        "push prices up. Central banks try to keep inflation low and stable, often near two "
        "percent a year, mainly by raising or lowering interest rates.",
    ),
    (
        "the blockchain",
        "A blockchain is a shared ledger made of blocks of records, each holding a cryptographic "
        "hash of the block before it, so the blocks form a chain. Changing an old record would "
        "change its hash and break every later link, which makes tampering evident. Copies of the "
        "ledger are kept by many nodes that agree on new blocks through a consensus protocol such "
        "as proof of work or proof of stake. Blockchains underpin cryptocurrencies like Bitcoin and "
        "are used for tracking assets where no single party is trusted to keep the books.",
    ),
    (
        "the immune response to infection",
        "When a pathogen enters the body, the innate immune system reacts first: skin and mucus "
        "block entry, and white blood cells such as neutrophils and macrophages engulf invaders and "
        "trigger inflammation. Within days the adaptive immune system joins in. Helper T cells "
        "coordinate the response, cytotoxic T cells kill infected cells, and B cells make "
        "antibodies that bind the specific pathogen. Some of these cells become long-lived memory "
        "cells, which is why a second infection by the same germ is usually fought off faster.",
    ),
    (
        "the greenhouse effect",
        "The greenhouse effect is the warming of a planet's surface by gases in its atmosphere that "
        "let sunlight through but absorb the infrared radiation the surface gives off. Water "
        "vapour, carbon dioxide, methane and nitrous oxide re-emit part of that heat back down. "
        "Without this natural effect the Earth's average temperature would be about minus eighteen "
        "degrees Celsius instead of about fifteen. Burning fossil fuels and clearing forests have "
        "raised carbon dioxide levels sharply since the industrial era, strengthening the effect "
        "and warming the climate.",
    ),
    (
        "supply and demand",
        "Supply and demand is the economic model of how prices are set in a competitive market. "
        "Demand falls as the price rises, because fewer buyers are willing to pay more; supply "
        "rises with the price, because sellers are keener to produce. The market settles at the "
        "equilibrium price, where the quantity buyers want equals the quantity sellers offer. A "
        "shift in either curve, such as a change in tastes, incomes or production costs, moves "
        "that equilibrium. Shortages push prices up and surpluses push them down.",
    ),
    (
        "the Roman aqueducts",
        "Roman aqueducts were channels that carried fresh water from distant springs and rivers "
        "into towns and cities across the Roman Empire. They relied on gravity alone, so engineers "
        "surveyed routes with a slight, steady downward slope over many kilometres. Most of the "
        "length ran underground or at ground level; the famous arched bridges carried the channel "
        "across valleys. The water fed public fountains, baths, latrines and the houses of the "
        "wealthy. Rome itself was supplied by eleven aqueducts built over five centuries.",
    ),
    (
        "how a refrigerator works",
        "A refrigerator keeps food cold by pumping heat out of its insulated cabinet. A refrigerant "
        "circulates in a closed loop. In the evaporator coils inside, the liquid refrigerant boils "
        "at a low pressure and absorbs heat from the air in the cabinet. A compressor then squeezes "
        "the vapour, raising its pressure and temperature, and the condenser coils at the back "
        "release that heat into the kitchen as the vapour turns back into liquid. An expansion "
        "valve lowers the pressure again and the cycle repeats, controlled by a thermostat.",
    ),
    (
        "the Magna Carta",
        "Magna Carta is a charter of rights agreed by King John of England at Runnymede in 1215 "
        "under pressure from rebellious barons. It promised the protection of church rights, "
        "limits on feudal payments to the crown and protection from illegal imprisonment, and "
        "stated that no free man could be punished except through the lawful judgement of his "
        "peers or the law of the land. The original deal collapsed within months, but reissued "
        "versions became part of English law, and the charter later served as a symbol of the "
        "principle that rulers are subject to the law.",
    ),
    (
        "machine learning overfitting",
        "Overfitting happens when a machine learning model learns the training data too closely, "
        "including its noise and accidental patterns, so it performs well on that data but poorly "
        "on new examples. It is most likely when the model has many parameters compared with the "
        "amount of training data. Overfitting shows up as a growing gap between training accuracy "
        "and validation accuracy. Common remedies are gathering more data, regularisation such as "
        "weight decay or dropout, simpler models, early stopping and cross-validation.",
    ),
    (
        "the human heart",
        "The human heart is a muscular organ about the size of a fist that pumps blood through the "
        "body. It has four chambers: two upper atria that receive blood and two lower ventricles "
        "that pump it out. The right side sends oxygen-poor blood to the lungs, and the left side "
        "pumps oxygen-rich blood from the lungs to the rest of the body through the aorta. Valves "
        "between the chambers keep the blood flowing in one direction. An electrical signal from "
        "the sinoatrial node sets the rhythm of each heartbeat.",
    ),
    (
        "the tax treatment of capital gains",
        "A capital gain is the profit made when an asset such as shares, property or a business is "
        "sold for more than it cost. Many countries tax these gains separately from income, often "
        "at lower rates to encourage investment. The taxable gain is usually the sale price minus "
        "the purchase price and allowable costs such as fees and improvements. Assets held for a "
        "long time may qualify for reduced rates, annual allowances may exempt small gains, and "
        "losses can often be offset against gains to reduce the bill.",
    ),
    (
        "volcanic eruptions",
        "A volcanic eruption happens when molten rock, called magma, rises from deep underground "
        "and escapes through a vent in the Earth's crust. Magma is less dense than the rock around "
        "it, so it rises and collects in chambers. Gas dissolved in it expands as the pressure "
        "drops. Runny, gas-poor basalt magma tends to produce gentle lava flows, as in Hawaii, "
        "while sticky, gas-rich magma can explode violently, throwing out ash and pumice and "
        "sending fast pyroclastic flows down the slopes.",
    ),
    (
        "the printing press",
        "The movable-type printing press was developed by Johannes Gutenberg in Mainz around 1440. "
        "He combined individual metal letters cast in a hand mould, an oil-based ink and a screw "
        "press adapted from those used for wine and olives. Pages could be composed from reusable "
        "type and printed in hundreds of identical copies. Printing spread across Europe within "
        "decades, cut the cost of books, helped standardise languages and spread the ideas of the "
        "Renaissance, the Reformation and the Scientific Revolution.",
    ),
    (
        "DNA replication",
        "DNA replication is the process by which a cell copies its DNA before it divides. The "
        "enzyme helicase unwinds the double helix and separates the two strands at a replication "
        "fork. Each strand then serves as a template: DNA polymerase adds nucleotides that pair "
        "with the bases on the template, adenine with thymine and guanine with cytosine. One strand "
        "is built continuously and the other in short Okazaki fragments that ligase joins. Each "
        "new molecule keeps one old strand and one new strand, which is why replication is called "
        "semi-conservative.",
    ),
    (
        "the stock market",
        "A stock market is where shares of publicly listed companies are bought and sold. "
        "Companies sell shares to raise capital, and investors buy them hoping for dividends and a "
        "rise in price. After the initial offering, shares trade between investors on exchanges "
        "such as the New York Stock Exchange or the London Stock Exchange, where prices move with "
        "supply and demand. Indexes such as the S&P 500 summarise how a group of shares performs. "
        "Regulators require listed companies to publish regular financial reports.",
    ),
    (
        "bees and pollination",
        "Pollination is the transfer of pollen from the male part of a flower to the female part, "
        "which lets the plant form seeds and fruit. Bees are among the most important pollinators. "
        "As they visit flowers to collect nectar and pollen for their colony, pollen sticks to the "
        "hairs on their bodies and is carried to the next flower. Many crops, including apples, "
        "almonds and tomatoes, depend heavily on bee pollination. Habitat loss, pesticides and "
        "disease have reduced bee numbers in many regions.",
    ),
    (
        "the rules of tennis scoring",
        "Tennis uses an unusual scoring system. Within a game, a player's points are called love, "
        "fifteen, thirty and forty, and the next point wins the game, unless both players reach "
        "forty, called deuce. From deuce a player must win two points in a row, first gaining the "
        "advantage. Six games win a set, but the winner must lead by two games; at six games all a "
        "tie-break is usually played. Matches are best of three or best of five sets, and the "
        "players change ends after every odd game.",
    ),
    (
        "antibiotic resistance",
        "Antibiotic resistance occurs when bacteria change so that the drugs designed to kill them "
        "no longer work. Random mutations or genes picked up from other bacteria can let a "
        "bacterium destroy the drug, pump it out or alter its target. Each time antibiotics are "
        "used, susceptible bacteria die and resistant ones survive and multiply. Overuse in "
        "medicine and farming, and patients not finishing their courses, speed this selection. "
        "Resistant infections are harder to treat, last longer and are more often fatal.",
    ),
    (
        "the Silk Road",
        "The Silk Road was a network of overland and sea trade routes that linked China with "
        "Central Asia, the Middle East and Europe from about the second century BC until the "
        "fifteenth century. Chinese silk, spices, tea and porcelain travelled west, while horses, "
        "glassware, wool and silver travelled east. Few merchants made the whole journey; goods "
        "passed through many hands and oasis cities such as Samarkand grew rich. The routes also "
        "carried religions, technologies such as papermaking, and diseases including the plague.",
    ),
    (
        "electric car batteries",
        "Most electric cars are powered by lithium-ion battery packs made of thousands of cells. "
        "During charging, lithium ions move from the cathode to the graphite anode; when the car "
        "drives they flow back, releasing energy to the electric motor. A pack's capacity, "
        "measured in kilowatt-hours, largely sets the car's range. A battery management system "
        "balances the cells and keeps them within safe temperatures. Capacity fades slowly with "
        "charging cycles and heat, and most makers guarantee packs for about eight years.",
    ),
    (
        "the Olympic Games",
        "The modern Olympic Games are an international multi-sport event held every four years, "
        "with Summer and Winter Games alternating every two years. They were revived by Pierre de "
        "Coubertin, and the first modern Games took place in Athens in 1896, inspired by the "
        "ancient festival held at Olympia in Greece. The International Olympic Committee chooses "
        "the host city and oversees the movement. Athletes compete for gold, silver and bronze "
        "medals, and the Games open with the lighting of the Olympic flame.",
    ),
    (
        "the rule of law",
        "The rule of law is the principle that everyone, including the government and its "
        "officials, is subject to laws that are publicly known, applied equally and enforced by "
        "independent courts. It means that power is exercised according to settled rules rather "
        "than the arbitrary will of those in charge. Key elements include clear and stable laws, "
        "fair procedures, access to justice and judges who are free from political pressure. It "
        "protects individual rights and gives people and businesses the certainty to plan.",
    ),
    (
        "continuous integration in software",
        "Continuous integration is a software development practice in which developers merge "
        "their changes into a shared main branch frequently, often several times a day. Each merge "
        "triggers an automated build and a run of the test suite, so problems surface within "
        "minutes of the change that caused them instead of weeks later. The practice relies on a "
        "version control system, a fast reliable test suite and a build server. It makes releases "
        "less risky and is often extended into continuous delivery.",
    ),
    (
        "sleep and memory",
        "Sleep plays an active part in forming memories. During deep slow-wave sleep the brain "
        "replays patterns of activity from the day, moving recent memories from the hippocampus to "
        "longer-term storage in the cortex. Rapid eye movement sleep appears to help with emotional "
        "memories and skills. Studies show that people who sleep after learning remember more than "
        "those who stay awake, and that sleep deprivation impairs attention and the ability to "
        "take in new information the next day.",
    ),
    (
        "coral reefs",
        "Coral reefs are underwater structures built from the calcium carbonate skeletons of tiny "
        "animals called coral polyps. The polyps live in partnership with algae inside their "
        "tissues, which photosynthesise and supply most of their food. Reefs grow in warm, clear, "
        "shallow tropical waters and host about a quarter of all marine species despite covering "
        "a tiny fraction of the ocean floor. Rising sea temperatures cause bleaching, when the "
        "corals expel their algae, and can kill large parts of a reef.",
    ),
    (
        "the double-entry bookkeeping system",
        "Double-entry bookkeeping is an accounting method in which every transaction is recorded "
        "in at least two accounts: a debit in one and an equal credit in another. Buying equipment "
        "for cash, for instance, debits the equipment account and credits cash. Because debits and "
        "credits always match, the accounts must balance, which helps catch errors. The system "
        "keeps the accounting equation true: assets equal liabilities plus equity. It was "
        "described by Luca Pacioli in 1494 and remains the basis of modern accounting.",
    ),
    (
        "the speed of light",
        "The speed of light in a vacuum is exactly 299,792,458 metres per second, a value now used "
        "to define the metre. Nothing carrying information or mass can travel faster. Light slows "
        "down in materials such as water or glass, which is what makes lenses bend it. Einstein's "
        "theory of special relativity rests on the observation that this speed is the same for "
        "every observer, whatever their motion, which leads to effects such as time dilation and "
        "the equivalence of mass and energy.",
    ),
    (
        "mortgage amortisation",
        "Amortisation is how a repayment mortgage is paid off through fixed regular instalments "
        "over its term. Each payment covers the interest due for that period, and the rest reduces "
        "the outstanding principal. Early in the loan most of each payment goes to interest, "
        "because the balance is large; as the balance shrinks, the interest share falls and more "
        "of each payment repays principal. An amortisation schedule lists every payment with this "
        "split. Overpaying shortens the term and cuts the total interest paid.",
    ),
)
