//! The shipped deployment files pass their own tools: the systemd unit
//! (`systemd-analyze`), the Dockerfile (hadolint, and the `health`
//! subcommand its HEALTHCHECK runs), the Kubernetes kustomizations
//! (`kubectl kustomize`, kubernetes-validate, the restricted Pod Security
//! Standard, `switchboard check` on their configs).

mod docker;
mod kubernetes;
mod pod_security;
mod systemd;
