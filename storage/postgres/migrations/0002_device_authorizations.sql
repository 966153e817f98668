-- Signet's PostgreSQL schema, version 2: device authorization requests
-- (RFC 8628). Keyed by the device code's hash; the user code's (keyed) hash is
-- unique, so that the /device page finds a request by it and two live requests
-- never share a user code. The janitor deletes them at expires_at, redeemed or
-- not.

CREATE TABLE device_authorizations (
    device_code_hash text COLLATE "C" PRIMARY KEY,
    user_code_hash   text COLLATE "C" NOT NULL UNIQUE,
    expires_at       timestamptz NOT NULL,
    data             json NOT NULL
);
CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
