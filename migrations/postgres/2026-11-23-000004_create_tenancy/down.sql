DROP TABLE audit_events;
DROP TABLE invitations;
DROP TABLE roles;
DROP TABLE member_roles;
DROP TABLE memberships;
