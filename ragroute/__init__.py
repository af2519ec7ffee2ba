"""ragroute: when is a long-context LLM worth its cost over retrieval-augmented generation?"""

from importlib.metadata import version

__version__ = version("ragroute")
