from genq.cli import app

app()
