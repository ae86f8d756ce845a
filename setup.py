# setuptools needs this file only to hand cffi's build hook the module to compile.
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
