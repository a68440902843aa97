"""The add-numbers service.

Adds two numbers: the first Shipyard service

A Shipyard custom service: a Flask app named ``app``. Add routes below; each route's
docstring (a summary, a description, then ``---`` and OpenAPI YAML) becomes its entry on
the service's Swagger page.
"""

import math

from flask import Flask, jsonify, request

app = Flask(__name__)


def invalid_input(message):
    """A 400 answer in Shipyard's error format."""
    return jsonify({"error": {"type": "InvalidInput", "message": message}}), 400


@app.post("/add-numbers")
def add_numbers():
    """Add two numbers.

    Answers the sum of ``num1`` and ``num2`` as a JSON number.
    ---
    tags: [add-numbers]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [num1, num2]
            properties:
              num1: {type: number}
              num2: {type: number}
          example: {num1: 2, num2: 5}
    responses:
      "200":
        description: The sum of the two numbers.
        content:
          application/json:
            schema: {type: number}
            example: 7
      "400":
        description: A field is missing or is not a number.
        content:
          application/json:
            schema:
              type: object
              properties:
                error:
                  type: object
                  properties:
                    type: {type: string}
                    message: {type: string}
    """
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return invalid_input('the body must be a JSON object such as {"num1": 2, "num2": 5}')
    numbers = []
    for field in ("num1", "num2"):
        if field not in payload:
            return invalid_input(f"the field {field!r} is missing")
        value = payload[field]
        # bool is a subclass of int, but true + false is not a sum anyone means.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return invalid_input(f"the field {field!r} must be a number, not {value!r}")
        if not math.isfinite(value):
            return invalid_input(f"the field {field!r} must be a finite number")
        numbers.append(value)
    return jsonify(numbers[0] + numbers[1])
