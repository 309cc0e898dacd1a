"""deploy: where things run. The `vid2act` CLI, the config tree and presets, the Ray wiring.

Interface:
    deploy.config      Config, load_config(preset, overrides), save_config, read_config, ConfigError
    deploy.cli         main(): the `vid2act` entry point; one module per subcommand with `run(cfg, args)`
    deploy.ray_runtime ensure_ray(), remote(cls, **options): the only place `ray.remote` is applied
    deploy.collect     collect(cfg): source datasets with Ray env actors

Nothing imports `deploy/`; it imports everything else.
"""
