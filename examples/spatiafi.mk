# spatiafi.mk: fresh SpatiaFi access tokens for deploy Makefiles, never echoed, never in argv.
#
# Include it, then start the recipe line that needs a token with $(SPATIAFI_EXEC):
#
#   include spatiafi.mk
#
#   deploy:
#   	$(SPATIAFI_EXEC) ./deploy.sh --env prod       # SPATIAFI_ACCESS_TOKEN in its env
#
#   run:
#   	$(SPATIAFI_WITH_ENV_FILE) docker run --rm --env-file "$$SPATIAFI_ENV_FILE" my/image
#
# or use it alone:
#   make -f spatiafi.mk spatiafi-run SPATIAFI_CMD='./deploy.sh --env prod'
#   make -f spatiafi.mk spatiafi-docker-run SPATIAFI_DOCKER_ARGS='--rm my/image'
#
# Credentials: SPATIAFI_CLIENT_ID and SPATIAFI_CLIENT_SECRET from the environment, else the
# stored profile (SPATIAFI_PROFILE, SPATIAFI_CONFIG_DIR); SPATIAFI_AUTH_URL and the other
# SPATIAFI_* variables work as for the CLI.
#
# $(SPATIAFI_EXEC) is `spatiafi-ops exec --`: the rest of the line is one command and its
# arguments, which runs with SPATIAFI_ACCESS_TOKEN, SPATIAFI_TOKEN_EXPIRES_AT and
# SPATIAFI_TOKEN_TYPE in its environment, without SPATIAFI_CLIENT_SECRET or
# SPATIAFI_PASSWORD; when no token can be had it never runs and make stops with the CLI's
# "Error:" sentence. For shell syntax (&&, pipes, cd) give it a shell:
#   $(SPATIAFI_EXEC) sh -c 'cd infra && ./deploy.sh'
# or use $(SPATIAFI_WITH_TOKEN), which puts the token in the recipe line's shell instead.
#
# Why recipe lines and not `export SPATIAFI_ACCESS_TOKEN := $(shell spatiafi-ops token)`:
# - $(shell) runs while make reads the makefile, for every goal (even `make -n` or `help`),
#   and ignores the exit status: a failed mint deploys with an empty token;
# - the token becomes a make variable, printed by `make -p`, $(info) or a debugging echo, and
#   it reaches the environment of every recipe, not only the one that needs it.
# And never `./deploy.sh --token $(TOKEN)`: argv is visible to every process (ps, /proc).
# The recipe text holds no token, so even `make -n` or `--trace` shows none.
# Rotation belongs in cron or systemd (examples/cron, examples/systemd), where the CLI's exit
# codes (3 rejected, 4 unreachable, 5 local state) reach the alerting: make turns every
# failure into its own exit code 2.

SPATIAFI_OPS ?= spatiafi-ops
# Mint a new token unless the cached one has at least this long left (tokens live 15 minutes).
SPATIAFI_MIN_TTL ?= 5m
# Format of the env file: docker (docker run --env-file) or dotenv (docker compose env_file).
SPATIAFI_ENV_FORMAT ?= docker

# Prefix for a recipe line: the command after it runs with the token in its environment.
SPATIAFI_EXEC = @$(SPATIAFI_OPS) exec --min-ttl $(SPATIAFI_MIN_TTL) --

# Prefix for a recipe line that needs shell syntax: the line's shell gets the token
# variables, or the line stops (`|| exit` fails closed with or without `set -e`);
# `set +x` guards against SHELLFLAGS=-x.
SPATIAFI_WITH_TOKEN = @set +x; \
	_spatiafi_env="$$($(SPATIAFI_OPS) token --min-ttl $(SPATIAFI_MIN_TTL) --format shell)" || exit; \
	eval "$$_spatiafi_env"; unset _spatiafi_env;

# Prefix for a recipe line: the command after it finds an env file (mode 0600, removed when
# the line ends) at $$SPATIAFI_ENV_FILE, holding the token variables.
SPATIAFI_WITH_ENV_FILE = @set +x -e; \
	SPATIAFI_ENV_FILE="$$(mktemp)"; \
	trap 'rm -f "$$SPATIAFI_ENV_FILE"' EXIT; \
	$(SPATIAFI_OPS) token --min-ttl $(SPATIAFI_MIN_TTL) --format $(SPATIAFI_ENV_FORMAT) --output "$$SPATIAFI_ENV_FILE"; \
	export SPATIAFI_ENV_FILE;

# Keep the including Makefile's default goal (make picks the first target it reads).
_spatiafi_default_goal := $(.DEFAULT_GOAL)

.PHONY: spatiafi-help spatiafi-run spatiafi-docker-run spatiafi-env-file

spatiafi-help:
	@echo "spatiafi-run         SPATIAFI_CMD='...' runs with SPATIAFI_ACCESS_TOKEN in its environment"
	@echo "spatiafi-docker-run  SPATIAFI_DOCKER_ARGS='...': docker run --env-file <token file> ..."
	@echo "spatiafi-env-file    SPATIAFI_ENV_OUT=PATH: write the token variables to PATH (0600)"

# SPATIAFI_CMD is a command and its arguments; for shell syntax, SPATIAFI_CMD="sh -c '...'".
spatiafi-run:
	$(if $(SPATIAFI_CMD),,$(error set SPATIAFI_CMD, e.g. SPATIAFI_CMD='./deploy.sh --env prod'))
	$(SPATIAFI_EXEC) $(SPATIAFI_CMD)

spatiafi-docker-run:
	$(if $(SPATIAFI_DOCKER_ARGS),,$(error set SPATIAFI_DOCKER_ARGS, e.g. SPATIAFI_DOCKER_ARGS='--rm my/image'))
	$(SPATIAFI_WITH_ENV_FILE) docker run --env-file "$$SPATIAFI_ENV_FILE" $(SPATIAFI_DOCKER_ARGS)

# For docker compose env_file: and python-dotenv. The file is yours to delete; keep it out of
# the work tree (spatiafi-ops warns when PATH is inside a git work tree).
spatiafi-env-file:
	$(if $(SPATIAFI_ENV_OUT),,$(error set SPATIAFI_ENV_OUT=PATH))
	@$(SPATIAFI_OPS) token --min-ttl $(SPATIAFI_MIN_TTL) --format $(SPATIAFI_ENV_FORMAT) --output "$(SPATIAFI_ENV_OUT)"

ifneq ($(words $(MAKEFILE_LIST)),1)
.DEFAULT_GOAL := $(_spatiafi_default_goal)
endif
