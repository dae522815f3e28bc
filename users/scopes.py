"""The scopes of the users' operations (declared in UsersConfig.ready)."""

USERS_READ = "users:read"
USERS_WRITE = "users:write"
