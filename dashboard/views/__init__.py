"""The dashboard's pages. Streamlit runs each file as a script (``__name__ == "__main__"``); importing one
(as the layering test does) only defines its ``render`` function."""
