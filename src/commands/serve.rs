//! `sgops serve [--listen ADDR]`: the central API's route on a socket, or inside AWS Lambda
//! the same router answering API Gateway events.

use std::path::Path;

use crate::cli::ServeArgs;
use crate::error::{Error, Exit};
use crate::serve;

use super::load_config;

pub fn run(config_path: &Path, args: &ServeArgs) -> Result<Exit, Error> {
    let cfg = load_config(config_path)?;
    if cfg.serve.is_none() {
        return Err(serve::ServeError::NotConfigured.into());
    }
    let rt = super::runtime()?;
    rt.block_on(async {
        if serve::in_lambda() {
            serve::run_lambda(cfg).await
        } else {
            serve::run(cfg, args.listen).await
        }
    })?;
    Ok(Exit::Ok)
}
