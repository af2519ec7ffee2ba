"""ragroute: when is a long-context LLM worth its cost over retrieval-augmented generation?"""

__version__ = "0.1.0"
