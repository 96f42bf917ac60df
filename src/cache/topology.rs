//! The three ways kurz reaches Redis, behind one connection type: one server (`REDIS_URL`),
//! a primary found through Sentinel and followed across failovers, or Redis Cluster. The
//! shared cache and the invalidation bus use the few commands below and never look at which
//! kind they run on, except for two differences that are the servers' own:
//!
//! - In a cluster, a multi-key command must stay in one slot, so keys carry a hash tag
//!   (`{code}`); [`Topology::hash_tags`] tells the key builder.
//! - In a cluster, `PUBLISH` reaches subscribers on every node but counts only those on the
//!   node it ran on, and the writer waits for that count of confirmations. So every replica
//!   subscribes on, and publishes to, one node: the primary of the slot of the invalidation
//!   channel's name ([`Topology::subscriber`], [`Link::publish`]).
//!
//! Behind Sentinel, the sentinels are asked every second which server is the primary; when it
//! changed (a failover), the link moves there ([`Topology::follow_primary`]).

use super::link::{Link, primary_of_slot};
use crate::config::{CacheSettings, Secret};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::ClusterClient;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{ConnectionAddr, RedisError, RedisResult, Value};
use std::time::Duration;

/// Longest wait for the sentinels to name the primary and for it to confirm its role.
const SENTINEL_LOOKUP: Duration = Duration::from_secs(2);

/// Which Redis, from the settings.
#[allow(
    clippy::large_enum_variant,
    reason = "one per process, made once at start-up"
)]
pub enum Topology {
    /// One server, or anything that keeps one stable address across failovers.
    Single(redis::Client),
    /// The primary of a Sentinel-monitored group.
    Sentinel(Sentinels),
    /// Redis Cluster, reached through any of its seed nodes.
    Cluster {
        client: ClusterClient,
        /// The first seed node: its credentials reach the node the bus subscribes on.
        seed: redis::ConnectionInfo,
    },
}

/// The sentinels of one primary.
pub struct Sentinels {
    /// Finds the primary and checks that it says it is one (`ROLE`) before kurz uses it.
    finder: tokio::sync::Mutex<SentinelClient>,
    /// Each sentinel, in the configured order, for the cheap question "which primary now?".
    each: Vec<redis::Client>,
    /// The name the sentinels know the primary by.
    master: String,
}

/// A connection and, behind Sentinel, the primary it reaches (to notice a failover, and to
/// subscribe where this replica publishes).
#[derive(Clone)]
pub struct Connected {
    pub link: Link,
    pub primary: Option<redis::Client>,
}

impl Connected {
    /// The primary's address, for logs.
    pub fn primary_address(&self) -> Option<String> {
        self.primary
            .as_ref()
            .map(|p| p.get_connection_info().addr().to_string())
    }
}

impl Topology {
    /// The topology the settings name; `None` without Redis. Naming more than one is an error,
    /// as is an address that does not parse.
    pub fn from_settings(
        settings: &CacheSettings,
        timeout: Duration,
    ) -> anyhow::Result<Option<Self>> {
        let single = non_empty(settings.redis_url.as_ref().map(Secret::expose));
        let cluster = non_empty(settings.redis_cluster_nodes.as_ref().map(Secret::expose));
        let sentinels = non_empty(settings.redis_sentinels.as_ref().map(Secret::expose));
        let named = [single.is_some(), cluster.is_some(), sentinels.is_some()];
        if named.iter().filter(|set| **set).count() > 1 {
            anyhow::bail!(
                "set only one of REDIS_URL, KURZ_REDIS_CLUSTER_NODES and KURZ_REDIS_SENTINELS"
            );
        }
        if let Some(url) = single {
            return Ok(Some(Self::Single(redis::Client::open(url)?)));
        }
        if let Some(nodes) = cluster {
            let nodes = split_list(nodes);
            let Some(first) = nodes.first() else {
                anyhow::bail!("KURZ_REDIS_CLUSTER_NODES lists no node");
            };
            let seed = redis::IntoConnectionInfo::into_connection_info(first.as_str())?;
            let client = ClusterClient::builder(nodes)
                .connection_timeout(connect_timeout(timeout))
                .response_timeout(timeout)
                // A few, for redirections during a failover or resharding; every call has its
                // own time budget on top.
                .retries(2)
                .build()?;
            return Ok(Some(Self::Cluster { client, seed }));
        }
        if let Some(sentinels) = sentinels {
            let Some(master) = non_empty(settings.redis_sentinel_master.as_deref()) else {
                anyhow::bail!("KURZ_REDIS_SENTINELS needs KURZ_REDIS_SENTINEL_MASTER");
            };
            let mut primary = redis::RedisConnectionInfo::default();
            if let Some(password) = non_empty(
                settings
                    .redis_sentinel_master_password
                    .as_ref()
                    .map(Secret::expose),
            ) {
                primary = primary.set_password(password);
            }
            let sentinels = split_list(sentinels);
            let each = sentinels
                .iter()
                .map(|url| redis::Client::open(url.as_str()))
                .collect::<RedisResult<_>>()?;
            let finder = SentinelClient::build(
                sentinels,
                master.to_owned(),
                Some(SentinelNodeConnectionInfo::default().set_redis_connection_info(primary)),
                SentinelServerType::Master,
            )?;
            return Ok(Some(Self::Sentinel(Sentinels {
                finder: tokio::sync::Mutex::new(finder),
                each,
                master: master.to_owned(),
            })));
        }
        Ok(None)
    }

    /// Whether keys need hash tags so that the value and the generation of a code share a slot.
    pub fn hash_tags(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// Connects: behind Sentinel, to the primary the sentinels name now.
    pub async fn connect(&self, timeout: Duration) -> RedisResult<Connected> {
        match self {
            Self::Single(client) => Ok(Connected {
                link: Link::Node(manager(client.clone(), timeout).await?),
                primary: None,
            }),
            Self::Sentinel(sentinels) => {
                let primary = sentinels.primary().await?;
                Ok(Connected {
                    link: Link::Node(manager(primary.clone(), timeout).await?),
                    primary: Some(primary),
                })
            }
            Self::Cluster { client, .. } => Ok(Connected {
                link: Link::Cluster(client.get_async_connection().await?),
                primary: None,
            }),
        }
    }

    /// Behind Sentinel: a connection to the primary the sentinels name now, when it is not the
    /// one `current` reaches (a failover happened). `None` when nothing moved, and always for
    /// the other topologies.
    pub async fn follow_primary(
        &self,
        current: Option<&Connected>,
        timeout: Duration,
    ) -> RedisResult<Option<Connected>> {
        let Self::Sentinel(sentinels) = self else {
            return Ok(None);
        };
        let reached = current
            .and_then(|c| c.primary.as_ref())
            .map(|p| p.get_connection_info().addr().clone());
        let named = sentinels.named_primary(timeout).await?;
        if reached.as_ref().is_some_and(|r| same_address(r, &named)) {
            return Ok(None);
        }
        let primary = sentinels.primary().await?;
        if reached.as_ref() == Some(primary.get_connection_info().addr()) {
            return Ok(None);
        }
        Ok(Some(Connected {
            link: Link::Node(manager(primary.clone(), timeout).await?),
            primary: Some(primary),
        }))
    }

    /// A pub/sub connection to the node invalidations are published on (see the module
    /// documentation). `bus` is the invalidation channel, `current` the connection.
    pub async fn subscriber(&self, bus: &str, current: Option<Connected>) -> RedisResult<PubSub> {
        let Some(current) = current else {
            return Err(not_connected());
        };
        match self {
            Self::Single(client) => client.get_async_pubsub().await,
            // Where this replica publishes: the primary its link reaches.
            Self::Sentinel(_) => match &current.primary {
                Some(primary) => primary.get_async_pubsub().await,
                None => Err(not_connected()),
            },
            Self::Cluster { seed, .. } => {
                let mut link = current.link;
                let slot: i64 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(bus)
                    .query_async(&mut link)
                    .await?;
                let slots: Value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut link)
                    .await?;
                let Some((host, port)) = primary_of_slot(&slots, slot) else {
                    return Err(RedisError::from((
                        redis::ErrorKind::Client,
                        "no primary serves the invalidation channel's slot",
                    )));
                };
                let node = seed.clone().set_addr(ConnectionAddr::Tcp(host, port));
                redis::Client::open(node)?.get_async_pubsub().await
            }
        }
    }
}

impl Sentinels {
    /// The primary, as the sentinels name it and as it confirms (`ROLE`).
    async fn primary(&self) -> RedisResult<redis::Client> {
        let lookup = async { self.finder.lock().await.async_get_client().await };
        tokio::time::timeout(SENTINEL_LOOKUP, lookup)
            .await
            .unwrap_or_else(|_| Err(io_error("the sentinels did not name a primary in time")))
    }

    /// `(host, port)` of the primary, from the first sentinel that answers.
    async fn named_primary(&self, timeout: Duration) -> RedisResult<(String, u16)> {
        let mut failure = io_error("no sentinel configured");
        for sentinel in &self.each {
            let ask = async {
                let mut connection = sentinel.get_multiplexed_async_connection().await?;
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(&self.master)
                    .query_async::<Option<(String, u16)>>(&mut connection)
                    .await
            };
            match tokio::time::timeout(connect_timeout(timeout), ask).await {
                Ok(Ok(Some(address))) => return Ok(address),
                Ok(Ok(None)) => failure = io_error("a sentinel does not know the primary's name"),
                Ok(Err(err)) => failure = err,
                Err(_) => failure = io_error("a sentinel did not answer in time"),
            }
        }
        Err(failure)
    }
}

/// A manager for one server: it reconnects by itself after a drop, within the call budget.
async fn manager(client: redis::Client, timeout: Duration) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout(timeout)))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, config).await
}

/// Connecting may take longer than a call (a TCP handshake on a busy host).
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(250))
}

fn same_address(address: &ConnectionAddr, (host, port): &(String, u16)) -> bool {
    matches!(address, ConnectionAddr::Tcp(h, p) if h == host && p == port)
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `a, b,,c` → `["a", "b", "c"]`.
fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn io_error(what: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Io, what))
}

fn not_connected() -> RedisError {
    io_error("not connected to Redis yet")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(adjust: impl FnOnce(&mut CacheSettings)) -> anyhow::Result<Option<Topology>> {
        let mut settings = crate::config::Settings::defaults().cache;
        adjust(&mut settings);
        Topology::from_settings(&settings, Duration::from_millis(100))
    }

    #[test]
    fn no_redis_setting_means_no_topology() {
        assert!(matches!(topology(|_| {}), Ok(None)));
        assert!(matches!(
            topology(|s| s.redis_url = Some(" ".into())),
            Ok(None)
        ));
    }

    #[test]
    fn two_topologies_at_once_are_refused() {
        let both = topology(|s| {
            s.redis_url = Some("redis://127.0.0.1:6379".into());
            s.redis_cluster_nodes = Some("redis://127.0.0.1:7000".into());
        });
        assert!(both.is_err());
    }

    #[test]
    fn sentinels_need_the_primary_s_name() {
        let sentinels = Some(Secret::from(
            "redis://127.0.0.1:26379,redis://127.0.0.1:26380",
        ));
        assert!(topology(|s| s.redis_sentinels = sentinels.clone()).is_err());
        let named = topology(|s| {
            s.redis_sentinels = sentinels.clone();
            s.redis_sentinel_master = Some("mymaster".into());
        });
        assert!(matches!(named, Ok(Some(Topology::Sentinel(_)))));
    }

    #[test]
    fn only_a_cluster_asks_for_hash_tags() {
        let cluster = topology(|s| {
            s.redis_cluster_nodes = Some(" redis://127.0.0.1:7000, redis://127.0.0.1:7001,".into());
        });
        assert!(matches!(&cluster, Ok(Some(t)) if t.hash_tags()));
        let single = topology(|s| s.redis_url = Some("redis://127.0.0.1:6379".into()));
        assert!(matches!(&single, Ok(Some(t)) if !t.hash_tags()));
        assert!(topology(|s| s.redis_cluster_nodes = Some(",".into())).is_err());
    }
}
