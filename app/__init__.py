"""The Streamlit dashboard: a thin, stateless view over the run store and the artifacts. It never trains; it
submits and cancels through ``worker.runs``. Entry: ``streamlit run app/main.py``."""
