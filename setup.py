"""Only the compiled part of the build; everything else is in pyproject.toml.

The HTML rewriter's hot loop (rewriter/html/_core.c) is built with the system C compiler by
``pip install`` (``make install``). It is optional: without a compiler the build goes on and the
pure-Python reference core runs instead (``tandem --version`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rewriter.html._core",
            sources=["rewriter/html/_core.c"],
            optional=True,  # no compiler: installed without it, the pure-Python core is used
            extra_compile_args=["-O2"],
        )
    ]
)
