package io.cloister.fcapi;

import jakarta.json.JsonValue;

/** An answer: 204 with no body for a successful write, 200 with JSON for a read. */
record Reply(int status, JsonValue body) {
    static final Reply NO_CONTENT = new Reply(204, null);

    static Reply ok(JsonValue body) {
        return new Reply(200, body);
    }
}
