"""The bundled demo shop: three small origins (shop, cdn, widgets) to co-browse and test against.

    site = await start_demo()          # ephemeral ports on 127.0.0.1
    site.shop  # "http://shop.localhost:PORT"
    await site.close()
"""

from .server import DemoSite, start_demo
from .stats import RequestStats

__all__ = ["DemoSite", "RequestStats", "start_demo"]
