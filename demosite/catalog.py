"""The demo shop's product catalogue: fixed data, no I/O.

Prices are integer cents so totals never suffer float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    price_cents: int
    color: str  # main colour of the generated SVG picture
    shape: str  # "circle" | "square" | "triangle" | "diamond" | "ring" | "wave"
    blurb: str

    @property
    def price(self) -> str:
        return format_price(self.price_cents)

    def as_json(self, cdn: str) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "price_cents": self.price_cents,
            "price": self.price,
            "blurb": self.blurb,
            "image": f"{cdn}/img/product-{self.id}.svg",
            "url": f"/products/{self.id}",
        }


PRODUCTS: tuple[Product, ...] = (
    Product(1, "Ceramic Mug", 1450, "#e76f51", "circle",
            "A hand-glazed 350 ml mug that keeps your coffee warm through a long support call."),
    Product(2, "Linen Tote", 2200, "#2a9d8f", "square",
            "Sturdy natural linen with long handles. Fits a laptop and a baguette."),
    Product(3, "Desk Plant", 1800, "#52b788", "triangle",
            "A low-maintenance pothos in a recycled pot. Forgives a missed watering."),
    Product(4, "Dot Notebook", 950, "#4361ee", "diamond",
            "A5, 160 pages of dotted paper, lies flat, numbered pages."),
    Product(5, "Wool Beanie", 2600, "#9d4edd", "ring",
            "Merino wool, one size, knitted in a small family workshop."),
    Product(6, "Tea Sampler", 1600, "#f4a261", "wave",
            "Six loose-leaf teas from green to smoky black, 25 g each."),
)

_BY_ID = {p.id: p for p in PRODUCTS}

# Products shown in the home page's "featured" grid.
FEATURED_IDS = (1, 3, 5, 6)


def get_product(product_id: int) -> Product | None:
    return _BY_ID.get(product_id)


def search(query: str) -> list[Product]:
    """Case-insensitive substring match on name and blurb; empty query → everything."""
    q = query.strip().lower()
    if not q:
        return list(PRODUCTS)
    return [p for p in PRODUCTS if q in p.name.lower() or q in p.blurb.lower()]


def format_price(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"
