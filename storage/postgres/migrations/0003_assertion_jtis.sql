-- Used client assertions (private_key_jwt): each (client, jti) is accepted once
-- and remembered until the assertion's exp.
CREATE TABLE assertion_jtis (
    client_id  text COLLATE "C" NOT NULL,
    jti        text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_expires_at ON assertion_jtis (expires_at);
