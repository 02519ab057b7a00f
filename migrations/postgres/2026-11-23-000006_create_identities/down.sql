DROP TABLE login_codes;
DROP TABLE oauth_states;
DROP TABLE identities;
