"""The three demo origins, known once their ports are bound."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

SHOP_HOST = "shop.localhost"
CDN_HOST = "cdn.localhost"
WIDGETS_HOST = "widgets.localhost"


@dataclass(frozen=True)
class Origins:
    shop: str
    cdn: str
    widgets: str

    @classmethod
    def for_ports(cls, shop: int, cdn: int, widgets: int, scheme: str = "http") -> "Origins":
        return cls(
            shop=f"{scheme}://{SHOP_HOST}:{shop}",
            cdn=f"{scheme}://{CDN_HOST}:{cdn}",
            widgets=f"{scheme}://{WIDGETS_HOST}:{widgets}",
        )

    @property
    def shop_protocol_relative(self) -> str:
        """`//shop.localhost:PORT`: the shop origin without its scheme."""
        return self.shop.split(":", 1)[1]


ORIGINS_KEY = web.AppKey("demosite_origins", Origins)
