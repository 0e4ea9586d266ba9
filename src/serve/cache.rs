//! What requests need from AWS before their one EC2 call, kept between requests: the
//! allow-list (for `serve.allowlist_ttl_seconds`) and each account's assumed role (renewed by
//! the session itself shortly before it expires). A warm request costs one EC2 call.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::allowlist::{self, Allowlist, AllowlistError};
use crate::aws::{Aws, AwsError, Session};
use crate::config::{Account, Config};

/// Allow-list entries kept at most: service names come from callers.
const MAX_SERVICES: usize = 64;
/// EC2 clients kept at most (account × region).
const MAX_CLIENTS: usize = 4096;

/// A service's allowed actions, or `None` when it has no parameter (invalid service).
type Entry = (Instant, Option<Arc<BTreeSet<String>>>);

pub struct Allowlists {
    ttl: Duration,
    ssm: aws_sdk_ssm::Client,
    prefix: String,
    /// One reader at a time: a burst of cold requests makes one GetParameter, not many.
    entries: tokio::sync::Mutex<HashMap<String, Entry>>,
}

impl Allowlists {
    pub fn new(aws: &Aws, cfg: &Config, ttl: Duration) -> Allowlists {
        Allowlists {
            ttl,
            ssm: aws.ssm(&cfg.allowlist.region),
            prefix: cfg.allowlist.parameter_prefix.clone(),
            entries: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The allow-list of `service` (one service), from the cache while it is fresh.
    pub async fn get(&self, service: &str) -> Result<Allowlist, AllowlistError> {
        let mut entries = self.entries.lock().await;
        let actions = match entries.get(service) {
            Some((at, actions)) if at.elapsed() < self.ttl => actions.clone(),
            _ => {
                let actions = match allowlist::fetch(&self.ssm, &self.prefix, &[service]).await {
                    Ok(list) => list.actions(service).cloned().map(Arc::new),
                    Err(AllowlistError::InvalidService { .. }) => None,
                    Err(e) => return Err(e),
                };
                if entries.len() >= MAX_SERVICES {
                    entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
                }
                if entries.len() < MAX_SERVICES {
                    entries.insert(service.to_string(), (Instant::now(), actions.clone()));
                }
                actions
            }
        };
        match actions {
            Some(a) => {
                let mut list = Allowlist::default();
                list.insert(service, (*a).clone());
                Ok(list)
            }
            None => Err(AllowlistError::InvalidService {
                service: service.to_string(),
                parameter: format!("{}{service}", self.prefix),
            }),
        }
    }
}

/// Assumed roles by account, and EC2 clients by account and region.
#[derive(Default)]
pub struct Sessions {
    roles: Mutex<HashMap<String, Arc<OnceCell<Session>>>>,
    clients: Mutex<HashMap<(String, String), aws_sdk_ec2::Client>>,
}

impl Sessions {
    /// An EC2 client in `name`'s account and `region`, assuming its role the first time
    /// (a failed AssumeRole is not kept: the next request tries again).
    pub async fn ec2(
        &self,
        aws: &Aws,
        cfg: &Config,
        name: &str,
        account: &Account,
        region: &str,
    ) -> Result<aws_sdk_ec2::Client, AwsError> {
        let key = (name.to_string(), region.to_string());
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let cell = lock(&self.roles)
            .entry(name.to_string())
            .or_default()
            .clone();
        let session = cell
            .get_or_try_init(|| aws.assume(cfg, name, account))
            .await?;
        let client = session.ec2(region);
        let mut clients = lock(&self.clients);
        if clients.len() < MAX_CLIENTS {
            clients.insert(key, client.clone());
        }
        Ok(client)
    }
}

/// The maps are only held for a lookup or an insert, never across an await: a panic while
/// holding one cannot leave them half-written, so a poisoned lock is still good to use.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
