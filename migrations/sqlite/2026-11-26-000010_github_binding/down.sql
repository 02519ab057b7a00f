DROP TABLE link_codes;
ALTER TABLE login_codes DROP COLUMN code_challenge;
