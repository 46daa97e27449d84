-- lipa schema, version 19: one M-Pesa prompt per phone, across every
-- lipad on the database. Daraja refuses a second STK push to a phone while
-- a prompt is open on it; a row here says which purchase holds the phone's
-- prompt and until when (a push about to go: a short reservation; a push
-- accepted: until the purchase is settled by query). A purchase that finds
-- the phone held waits behind it; the one finishing the prompt hands the
-- phone to the oldest waiting.
CREATE TABLE prompts (
    phone      TEXT PRIMARY KEY,
    payment_id INTEGER NOT NULL,
    until_at   INTEGER NOT NULL
);
