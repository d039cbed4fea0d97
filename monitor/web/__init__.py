"""The office's web page, served by `monitor run` on its port: an overview at `/`, a page per
site, and the reports. Server-rendered (Jinja2, autoescaped), no JavaScript, inline SVG."""

from monitor.web.routes import Source, web_routes

__all__ = ["Source", "web_routes"]
