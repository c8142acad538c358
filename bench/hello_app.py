"""The smallest Flask app: a ceiling for what gunicorn + Flask can serve on this machine.

Answers every path with a small JSON body, so the real gateway config can proxy product
paths to it ("hello through the gateway").
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def hello(path):
    return jsonify(hello="world")
