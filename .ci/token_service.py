"""A registry token service for tests: GET /token with Basic USER:PASSWORD answers
{"token": ...}; anything else 401. Each request's service and scopes go to LOG, one JSON line
each. Usage: python3 .ci/token_service.py PORT USER PASSWORD LOG"""

import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

PORT, USER, PASSWORD, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
EXPECTED = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        ok = url.path == "/token" and self.headers.get("Authorization") == EXPECTED
        with open(LOG, "a") as f:
            f.write(json.dumps({"service": query.get("service"), "scope": query.get("scope"), "ok": ok}) + "\n")
        body = json.dumps({"token": "anneal-test-token", "expires_in": 300} if ok else {"details": "no"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
