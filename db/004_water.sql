-- lipa schema, version 4: what water orders (the water face) keep beyond a
-- payment's common columns: the request's metadata, and for Paystack the
-- buyer's e-mail, the hosted checkout and what Paystack last said.
ALTER TABLE payments ADD COLUMN metadata TEXT;                                  -- JSON object from the request
ALTER TABLE payments ADD COLUMN email TEXT NOT NULL DEFAULT '';                -- Paystack buyer
ALTER TABLE payments ADD COLUMN authorization_url TEXT NOT NULL DEFAULT '';    -- Paystack checkout page
ALTER TABLE payments ADD COLUMN access_code TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;         -- ms; checkout offered until
ALTER TABLE payments ADD COLUMN provider_status TEXT NOT NULL DEFAULT '';      -- Paystack's data.status
ALTER TABLE payments ADD COLUMN channel TEXT NOT NULL DEFAULT '';              -- card, mobile_money, ...
ALTER TABLE payments ADD COLUMN provider_receipt TEXT NOT NULL DEFAULT '';     -- Paystack's transaction id
ALTER TABLE payments ADD COLUMN paid_at TEXT NOT NULL DEFAULT '';              -- as Paystack wrote it
