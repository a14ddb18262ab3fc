"""What people read: terminal tables and CSV/JSON/Markdown (`tables`), run summaries
(`summary`), the HTML report (`html`, a jinja2 template) and its chart (`chart`).

Reads the warehouse through warehouse/ and never writes it; never imports Prefect.
"""
