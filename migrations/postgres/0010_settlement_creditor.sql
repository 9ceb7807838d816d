-- The account a settlement line pays, as the shop's record stood when the settlement was made:
-- a shop that changes its bank details afterwards does not redirect a payment already decided.
-- NULL on lines settled before this migration; their SEPA file takes the shop's current details.
ALTER TABLE settlement_lines ADD COLUMN creditor_name TEXT;
ALTER TABLE settlement_lines ADD COLUMN creditor_iban TEXT;
ALTER TABLE settlement_lines ADD COLUMN creditor_bic TEXT;
