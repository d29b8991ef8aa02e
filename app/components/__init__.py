"""Pure builders for the dashboard's pages: data in, a plotly figure (``figures``) or a numpy image / image
bytes (``frames``) out. Nothing here imports Streamlit or torch, so every builder is unit-tested on its own."""
