-- An account created by an administrator with a generated password must
-- choose its own at the first sign-in (the generated one works once).
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
