// Package variants is the catalog of images pgassemble can build: the
// matrix of PostgreSQL versions, image types and Debian bases, and for each
// target its name, tags, package stages, image config, OCI labels and the
// facts the layer builder must replay. It mirrors CloudNativePG's
// postgres-containers docker-bake.hcl and Dockerfile as data.
//
// The package is pure: no network, no files. A --config YAML document is
// read from an io.Reader the caller opened. It must not know about apt
// resolution, layers or registries beyond naming them; pkg/assemble does
// the work.
//
// Upstream facts mirrored here (checked against the postgres-containers
// bake file and Dockerfile):
//   - default matrix: every version (stable majors, plus previews whose
//     major is not yet stable) x {minimal, standard, system} x every base;
//   - target name postgresql-<N>-<type>-<codename>, where <N> is the major
//     for a stable version and the version with "~" removed for a preview
//     (19~beta3 -> postgresql-19beta3-minimal-trixie), exactly as upstream's
//     cleanVersion + split(".") yields;
//   - tags <N>-<type>-<codename>, <V>-<type>-<codename> and
//     <V>-<YYYYMMDDhhmm>-<type>-<codename>, V being the full version with
//     "~" removed; "rolling" tags <version> and <major> for system images
//     on bullseye only (none in our default bases);
//   - labels and annotations org.opencontainers.image.* with upstream's
//     values (title "CloudNativePG PostgreSQL <version> <type>", ...);
//   - minimal installs postgresql-common ca-certificates gnupg
//     libsasl2-modules libldap-common postgresql-<MM>=<version>*; standard
//     adds locales-all, postgresql-<MM>-jit from 18 on, and the pgaudit,
//     pgvector and pg-failover-slots extensions (not for previews); system
//     adds Barman Cloud (here Debian's barman-cli-cloud rather than pip);
//   - createcluster.conf gets create_main_cluster = false, postgres gets
//     uid 26, USER 26, PATH gains /usr/lib/postgresql/<MM>/bin.
//
// Package names are templates: "{{MM}}" is replaced by the major version
// (postgresql-{{MM}}-pgvector). Repository suites may use "{{codename}}".
package variants
