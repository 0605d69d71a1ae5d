"""The ingest baseline: the least a Flask app under the same gunicorn settings can do with a webhook,
read the body and answer 200. `gunicorn -c gunicorn.conf.py bench.baseline_app:app`."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/api/whatsapp/webhook", methods=["GET", "POST"])
def webhook():
    request.get_data()
    return jsonify(success=True)
