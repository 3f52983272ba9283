"""Word tables of the translation task, part 1: objects with gender and fitting adjectives, predicative
adjectives, colours, places, workplaces, foods and plural nouns.
"""

from __future__ import annotations

# objects: en, fr, gender, plural fr, tags
OBJECTS = [
    ("book", "livre", "m", {"new", "old", "heavy", "expensive", "big", "small"}),
    ("table", "table", "f", {"new", "old", "heavy", "clean", "dirty", "broken", "big", "small", "expensive"}),
    ("car", "voiture", "f", {"new", "old", "clean", "dirty", "broken", "expensive", "big", "small", "fast"}),
    ("house", "maison", "f", {"new", "old", "clean", "big", "small", "expensive", "empty"}),
    ("door", "porte", "f", {"new", "old", "open", "closed", "heavy", "broken"}),
    ("window", "fenêtre", "f", {"open", "closed", "clean", "dirty", "broken", "big", "small"}),
    ("chair", "chaise", "f", {"new", "old", "heavy", "broken", "clean", "dirty", "comfortable"}),
    ("bag", "sac", "m", {"new", "old", "heavy", "open", "empty", "expensive", "big", "small"}),
    ("phone", "téléphone", "m", {"new", "old", "broken", "expensive", "small"}),
    ("bottle", "bouteille", "f", {"empty", "open", "closed", "big", "small"}),
    ("shirt", "chemise", "f", {"new", "old", "clean", "dirty", "expensive"}),
    ("dress", "robe", "f", {"new", "old", "clean", "expensive", "long", "short"}),
    ("hat", "chapeau", "m", {"new", "old", "big", "small", "expensive"}),
    ("umbrella", "parapluie", "m", {"new", "old", "open", "closed", "broken", "big", "small"}),
    ("computer", "ordinateur", "m", {"new", "old", "broken", "expensive", "fast", "slow"}),
    ("bicycle", "vélo", "m", {"new", "old", "clean", "dirty", "broken", "expensive", "fast"}),
    ("coat", "manteau", "m", {"new", "old", "clean", "dirty", "expensive", "long", "short", "warm"}),
    ("cup", "tasse", "f", {"empty", "clean", "dirty", "broken", "small"}),
    ("plate", "assiette", "f", {"empty", "clean", "dirty", "broken", "big"}),
    ("box", "boîte", "f", {"empty", "open", "closed", "heavy", "big", "small"}),
    ("jacket", "veste", "f", {"new", "old", "clean", "dirty", "expensive", "warm"}),
    ("bed", "lit", "m", {"new", "old", "big", "small", "comfortable", "clean"}),
    ("room", "chambre", "f", {"clean", "dirty", "big", "small", "empty", "cold", "comfortable"}),
    ("kitchen", "cuisine", "f", {"clean", "dirty", "big", "small", "new", "old"}),
    ("watch", "montre", "f", {"new", "old", "broken", "expensive", "small"}),
    ("apartment", "appartement", "m", {"new", "old", "clean", "big", "small", "empty", "cold", "expensive"}),
]
# predicative adjectives: en -> (masc sg, fem sg)
PRED = {
    "new": ("neuf", "neuve"),
    "old": ("vieux", "vieille"),
    "heavy": ("lourd", "lourde"),
    "expensive": ("cher", "chère"),
    "big": ("grand", "grande"),
    "small": ("petit", "petite"),
    "clean": ("propre", "propre"),
    "dirty": ("sale", "sale"),
    "broken": ("cassé", "cassée"),
    "open": ("ouvert", "ouverte"),
    "closed": ("fermé", "fermée"),
    "empty": ("vide", "vide"),
    "fast": ("rapide", "rapide"),
    "slow": ("lent", "lente"),
    "comfortable": ("confortable", "confortable"),
    "long": ("long", "longue"),
    "short": ("court", "courte"),
    "warm": ("chaud", "chaude"),
    "cold": ("froid", "froide"),
}
# colours (post-nominal): en -> (m sg, f sg)
COLOURS = {
    "red": ("rouge", "rouge"),
    "black": ("noir", "noire"),
    "white": ("blanc", "blanche"),
    "green": ("vert", "verte"),
    "blue": ("bleu", "bleue"),
    "grey": ("gris", "grise"),
    "yellow": ("jaune", "jaune"),
    "brown": ("marron", "marron"),
}
COLOURED = [
    "car",
    "door",
    "chair",
    "bag",
    "phone",
    "shirt",
    "dress",
    "hat",
    "umbrella",
    "bicycle",
    "coat",
    "cup",
    "box",
    "jacket",
    "watch",
    "table",
    "bottle",
]

LOSABLE = [
    (o[0], o[1], o[2])
    for o in OBJECTS
    if o[0]
    in (
        "book",
        "car",
        "bag",
        "phone",
        "shirt",
        "dress",
        "hat",
        "umbrella",
        "computer",
        "bicycle",
        "coat",
        "jacket",
        "watch",
    )
] + [
    ("key", "clé", "f"),
    ("wallet", "portefeuille", "m"),
    ("ticket", "billet", "m"),
    ("passport", "passeport", "m"),
    ("scarf", "écharpe", "f"),
    ("pen", "stylo", "m"),
]

PLACES = [  # en, fr, gender
    ("beach", "plage", "f"),
    ("market", "marché", "m"),
    ("school", "école", "f"),
    ("station", "gare", "f"),
    ("museum", "musée", "m"),
    ("park", "parc", "m"),
    ("cinema", "cinéma", "m"),
    ("library", "bibliothèque", "f"),
    ("airport", "aéroport", "m"),
    ("hospital", "hôpital", "m"),
    ("bakery", "boulangerie", "f"),
    ("pharmacy", "pharmacie", "f"),
    ("swimming pool", "piscine", "f"),
    ("post office", "poste", "f"),
    ("church", "église", "f"),
    ("bank", "banque", "f"),
    ("supermarket", "supermarché", "m"),
    ("zoo", "zoo", "m"),
    ("hotel", "hôtel", "m"),
    ("restaurant", "restaurant", "m"),
    ("town hall", "mairie", "f"),
]
WORKPLACES = [
    "hospital",
    "bank",
    "school",
    "bakery",
    "restaurant",
    "library",
    "hotel",
    "museum",
    "pharmacy",
    "supermarket",
] + ["shop", "factory", "office"]
EXTRA_WORK = {"shop": ("magasin", "m"), "factory": ("usine", "f"), "office": ("bureau", "m")}

FOODS = [  # en, fr, gender, eat/drink
    ("bread", "pain", "m", "eat"),
    ("cheese", "fromage", "m", "eat"),
    ("soup", "soupe", "f", "eat"),
    ("rice", "riz", "m", "eat"),
    ("chicken", "poulet", "m", "eat"),
    ("fish", "poisson", "m", "eat"),
    ("salad", "salade", "f", "eat"),
    ("meat", "viande", "f", "eat"),
    ("pasta", "pâtes", "p", "eat"),
    ("jam", "confiture", "f", "eat"),
    ("water", "eau", "f", "drink"),
    ("milk", "lait", "m", "drink"),
    ("coffee", "café", "m", "drink"),
    ("tea", "thé", "m", "drink"),
    ("orange juice", "jus d'orange", "m", "drink"),
    ("wine", "vin", "m", "drink"),
    ("hot chocolate", "chocolat chaud", "m", "drink"),
]
FOOD_TIMES = [
    ("every morning", "tous les matins"),
    ("every day", "tous les jours"),
    ("in the evening", "le soir"),
    ("at breakfast", "au petit-déjeuner"),
    ("at lunch", "au déjeuner"),
    ("", ""),
]

PLURALS = [  # en, fr (with gender irrelevant for les)
    ("cats", "chats"),
    ("dogs", "chiens"),
    ("apples", "pommes"),
    ("strawberries", "fraises"),
    ("flowers", "fleurs"),
    ("vegetables", "légumes"),
    ("trains", "trains"),
    ("museums", "musées"),
    ("mountains", "montagnes"),
    ("horses", "chevaux"),
    ("birds", "oiseaux"),
    ("films", "films"),
    ("books", "livres"),
    ("cakes", "gâteaux"),
    ("tomatoes", "tomates"),
    ("spiders", "araignées"),
    ("holidays", "vacances"),
    ("long walks", "longues promenades"),
]
