"""One folder per landing source; ``registry.py`` lists them."""
