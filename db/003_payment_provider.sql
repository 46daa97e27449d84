-- Payments of every kind and provider in one table: water orders (the
-- water face's) carry a reference and litres; Paystack payments are not
-- pushed by the M-Pesa worker.
ALTER TABLE payments ADD COLUMN provider TEXT NOT NULL DEFAULT 'mpesa';   -- mpesa | paystack
ALTER TABLE payments ADD COLUMN reference TEXT;                           -- WS-<ms>-<8 chars>
ALTER TABLE payments ADD COLUMN liters INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN currency TEXT NOT NULL DEFAULT 'KES';
CREATE UNIQUE INDEX payments_reference ON payments(reference);
