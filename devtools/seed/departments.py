"""The demo catalog's departments: one category each, and the words its products are made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Department:
    """One category and the word lists its products are composed from: brand x variant x item x size."""

    slug: str
    name: str
    sku_prefix: str
    weight: int  # relative share of the products
    brands: tuple[str, ...]
    items: tuple[tuple[str, int], ...]  # (what it is, price in taka of the reference size)
    variants: tuple[str, ...]  # "" for none
    sizes: tuple[tuple[str, float], ...]  # (label, price factor)
    features: tuple[str, ...]
    usd_share: float = 0.0  # imported items priced in USD


DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "tea", "Tea", "TEA", 8,
        ("Sylhet Valley", "Halda Garden", "Sreemangal Estates", "Teesta Leaf", "Padma Leaf", "Chaa Ghor"),
        (("Black Tea", 220), ("Green Tea", 320), ("Masala Chai", 280), ("Earl Grey", 380),
         ("Tulsi Green Tea", 350), ("Lemongrass Tea", 300), ("Orthodox Leaf Tea", 450), ("Tea Bags", 180)),
        ("Premium", "Classic", "Gold Label", "Organic", "Estate", "Breakfast", ""),
        (("50 g", 0.55), ("100 g", 1.0), ("200 g", 1.85), ("400 g", 3.5), ("500 g", 4.3)),
        ("Hand-picked from gardens around Sreemangal and Moulvibazar.",
         "Brews a bright, brisk cup with a malty finish.",
         "Packed in a resealable foil pouch to keep the leaves fresh.",
         "Steep for three to four minutes in freshly boiled water.",
         "Lovely with milk and a little sugar, or on its own.",
         "Sourced from smallholder growers at fair prices."),
    ),
    Department(
        "coffee", "Coffee", "COF", 6,
        ("Bean Republic", "Dhaka Roasters", "Karnaphuli Coffee Co.", "Morning Ritual", "Hill Tract Roastery",
         "Kopi House"),
        (("Ground Coffee", 650), ("Whole Bean Coffee", 750), ("Instant Coffee", 480),
         ("Cold Brew Blend", 700), ("Espresso Roast", 800), ("Decaf Coffee", 780), ("Coffee Pods", 900)),
        ("Arabica", "Robusta Blend", "Dark Roast", "Medium Roast", "Single Origin", "House Blend"),
        (("100 g", 0.5), ("200 g", 1.0), ("250 g", 1.2), ("500 g", 2.3), ("1 kg", 4.4)),
        ("Roasted in small batches and packed within a week.",
         "Notes of dark chocolate, caramel and toasted nuts.",
         "A one-way valve bag keeps the aroma in and the air out.",
         "Works in a French press, moka pot or pour-over.",
         "Grown in the hills of Bandarban and blended with imported beans."),
        usd_share=0.1,
    ),
    Department(
        "spices", "Spices & Masala", "SPC", 10,
        ("Ranna Ghor", "Moshla Bazar", "Bengal Spice Co.", "Deshi Swad", "Tejpata", "Shorshe Mills"),
        (("Turmeric Powder", 90), ("Chili Powder", 110), ("Cumin Seeds", 180), ("Coriander Powder", 80),
         ("Garam Masala", 160), ("Panch Phoron", 120), ("Black Pepper", 260), ("Green Cardamom", 550),
         ("Biryani Masala", 140), ("Meat Curry Masala", 130)),
        ("", "Pure", "Stone-ground", "Organic", "Premium", "Home-style"),
        (("50 g", 0.5), ("100 g", 1.0), ("200 g", 1.9), ("500 g", 4.5), ("1 kg", 8.5)),
        ("Sun-dried and ground without colours or fillers.",
         "The everyday spice of a Bengali kitchen.",
         "Freshly milled for a deep colour and aroma.",
         "Keep the pack closed and away from moisture.",
         "Tested for purity in an accredited laboratory."),
    ),
    Department(
        "rice-and-grains", "Rice & Grains", "RIC", 10,
        ("Chashi Farms", "Nobanno", "Sonali Khet", "Barind Harvest", "Meghna Mills", "Dinajpur Select"),
        (("Miniket Rice", 78), ("Chinigura Aromatic Rice", 150), ("Basmati Rice", 220),
         ("Nazirshail Rice", 85), ("Red Lentils (Masoor Dal)", 120), ("Mung Dal", 150), ("Chickpeas", 110),
         ("Whole Wheat Atta", 65), ("Flattened Rice (Chira)", 90)),
        ("", "Premium", "Polished", "Organic", "Export Quality", "Aged"),
        (("1 kg", 1.0), ("2 kg", 1.95), ("5 kg", 4.7), ("10 kg", 9.2), ("25 kg", 22.0)),
        ("Cleaned, sorted and packed in Dinajpur.",
         "Cooks up fluffy with separate grains.",
         "This season's harvest, straight from the mill.",
         "No stones, no husk: ready to wash and cook.",
         "A staple for everyday meals and festive biryani alike."),
    ),
    Department(
        "snacks", "Snacks & Biscuits", "SNK", 14,
        ("Crunchy Bay", "Mishti Mukh", "Nasta Co.", "Tiffin Box", "Chanachur King", "Golden Crisp"),
        (("Chanachur", 60), ("Potato Chips", 40), ("Cream Biscuits", 35), ("Butter Cookies", 120),
         ("Dry Cake", 90), ("Roasted Peanuts", 70), ("Puffed Rice (Muri)", 50), ("Chocolate Wafers", 55),
         ("Nimki", 65)),
        ("Classic", "Original", "Crispy", "Premium", "Family", "Party"),
        (("35 g", 0.5), ("75 g", 1.0), ("150 g", 1.9), ("300 g", 3.6), ("500 g", 5.8)),
        ("The four o'clock snack with a cup of tea.",
         "Crunchy, light and made fresh every week.",
         "Made with pure vegetable oil and no artificial colours.",
         "A resealable pack for the tiffin box.",
         "Best before three months from packing."),
    ),
    Department(
        "personal-care", "Personal Care", "PER", 12,
        ("Neem Leaf Naturals", "Aloe Bliss", "Shuddho", "Glow & Co.", "Pureskin", "Kesh Care"),
        (("Herbal Shampoo", 280), ("Face Wash", 220), ("Moisturising Lotion", 350), ("Toothpaste", 120),
         ("Bathing Soap", 60), ("Coconut Hair Oil", 180), ("Hand Wash", 150), ("Sunscreen SPF 50", 650),
         ("Roll-on Deodorant", 320)),
        ("Aloe Vera", "Sandalwood", "Lemon", "Charcoal", "Sensitive", "Rose", "Fresh Mint", ""),
        (("Travel Size", 0.45), ("Regular", 1.0), ("Large", 1.8), ("Family Pack", 3.2)),
        ("Dermatologically tested and gentle on every skin type.",
         "Free from parabens and harsh sulphates.",
         "With neem and turmeric, as grandmothers recommend.",
         "A light, fresh fragrance that lasts.",
         "Not tested on animals."),
    ),
    Department(
        "household", "Household & Cleaning", "HOU", 10,
        ("Jhakjhake", "Shine Home", "CleanNest", "Ghor Bari", "Sparkle & Co.", "Fresh Day"),
        (("Dishwashing Liquid", 160), ("Laundry Detergent", 240), ("Floor Cleaner", 190),
         ("Toilet Cleaner", 170), ("Glass Cleaner", 180), ("Scrub Sponges", 90), ("Garbage Bags", 150),
         ("Mosquito Coil", 110), ("Air Freshener", 260)),
        ("Lemon", "Lavender", "Pine", "Antibacterial", "Ocean Fresh", "Unscented"),
        (("Small", 0.55), ("Regular", 1.0), ("Large", 1.8), ("Value Pack", 3.1)),
        ("Cuts through grease in a single wipe.",
         "Kills 99.9% of germs when used as directed.",
         "Safe on tiles, marble and mosaic floors.",
         "Keep out of reach of children.",
         "A concentrated formula: a little goes a long way."),
    ),
    Department(
        "electronics-accessories", "Electronics Accessories", "ELC", 10,
        ("Voltix", "Amperon", "Linkwave", "Chargely", "Dhaka Digital", "Nexplug"),
        (("USB-C Cable", 350), ("20W Fast Charger", 900), ("10000 mAh Power Bank", 1900),
         ("Wireless Earbuds", 2600), ("Bluetooth Speaker", 2200), ("Phone Case", 450),
         ("Tempered Glass Screen Protector", 300), ("Wireless Mouse", 850), ("HDMI Cable", 550),
         ("Laptop Stand", 1600)),
        ("Braided", "Slim", "Pro", "Mini", "Max", "Lite", ""),
        (("Black", 1.0), ("White", 1.0), ("Midnight Blue", 1.05), ("Space Grey", 1.05), ("Twin Pack", 1.8)),
        ("Comes with a 12-month replacement warranty.",
         "Certified for safe charging with over-current protection.",
         "Works with Android phones, iPhones and laptops.",
         "Tough enough for daily commutes on a crowded bus.",
         "Ships in recyclable packaging."),
        usd_share=0.2,
    ),
    Department(
        "stationery", "Stationery & Office", "STN", 10,
        ("Lekhoni", "Kalam & Co.", "Paper Boat", "Boi Ghor", "Inkwell", "Matra"),
        (("Gel Pen", 25), ("Ballpoint Pen", 10), ("Spiral Notebook", 90), ("Exercise Khata", 40),
         ("Highlighter", 45), ("HB Pencil", 12), ("Sticky Notes", 80), ("A4 Paper Ream", 520),
         ("Geometry Box", 220), ("Whiteboard Marker", 60)),
        ("Blue", "Black", "Assorted", "Premium", "Student", "Office"),
        (("Single", 1.0), ("Pack of 5", 4.6), ("Pack of 10", 8.8), ("Box of 24", 20.0)),
        ("Smooth writing from the first line to the last.",
         "Acid-free paper that does not yellow.",
         "A favourite for exams and office desks alike.",
         "Quick-drying ink that does not smudge.",
         "Made in Bangladesh."),
    ),
    Department(
        "baby-care", "Baby Care", "BBY", 8,
        ("Little Moni", "Shishu Care", "Tiny Steps", "Soft Petal", "Baby Bloom", "Nanny's Choice"),
        (("Baby Diapers", 900), ("Baby Wipes", 220), ("Baby Lotion", 380), ("Baby Shampoo", 350),
         ("Feeding Bottle", 450), ("Baby Powder", 200), ("Diaper Rash Cream", 320), ("Infant Cereal", 550)),
        ("Gentle", "Sensitive", "Aloe", "Unscented", "Newborn", "Organic"),
        (("Small", 0.6), ("Regular", 1.0), ("Jumbo", 2.1), ("Value Pack", 3.0)),
        ("Paediatrician-tested and hypoallergenic.",
         "Free from alcohol, parabens and dyes.",
         "Soft enough for a newborn's skin.",
         "BPA-free materials throughout.",
         "Trusted by mothers across Bangladesh."),
    ),
)  # fmt: skip
