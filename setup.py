# Everything is declared in setup.cfg; this file lets older pip/setuptools install in place.
from setuptools import setup

setup()
