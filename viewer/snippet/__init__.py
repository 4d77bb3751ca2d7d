"""The embeddable snippet: browser sources (bundled by viewer/build.mjs) and its server side."""
