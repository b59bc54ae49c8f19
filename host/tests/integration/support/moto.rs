//! A moto server (local DynamoDB + S3) for tests of the AWS backends: started on a free
//! 127.0.0.1 port, stopped when the [`Moto`] value drops. Installed by
//! `scripts/install-moto` (`make test` runs it).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn moto_binary() -> PathBuf {
    if let Ok(path) = std::env::var("PLUGHOST_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/moto/bin/moto_server");
    assert!(path.exists(), "{} is missing: run `scripts/install-moto` (`make test` does)", path.display());
    path
}

impl Moto {
    pub async fn start() -> Self {
        Self::spawn(Command::new(moto_binary())).await
    }

    /// moto with S3 PutObject serialised, so conditional writes are atomic as on real S3
    /// (`tests/moto/atomic_server.py` says why).
    pub async fn start_with_atomic_s3_writes() -> Self {
        let python = moto_binary().with_file_name("python3");
        let mut command = Command::new(python);
        command.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/moto/atomic_server.py"));
        Self::spawn(command).await
    }

    async fn spawn(mut command: Command) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = http.get(format!("{}/moto-api/", moto.endpoint)).send().await
                && res.status().is_success()
            {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto did not answer on {} within 60 s", moto.endpoint);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel, never
    /// answered — a hung backend. [`Moto::resume`] thaws it.
    pub fn pause(&self) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGSTOP) };
    }

    pub fn resume(&self) {
        // SAFETY: as in `pause`.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
    }

    /// Environment variables that point a `plughost` process's AWS clients at this server.
    pub fn env(&self) -> [(&'static str, &str); 4] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ]
    }

    /// An SDK config for this server: dummy credentials, us-east-1, our endpoint.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }

    /// Creates an SQS queue named `name`; its URL and ARN.
    pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
        let url = sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        (url, attributes.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone())
    }

    /// Creates a table with plughost's kv layout (see `capability/kv/dynamo.rs`).
    pub async fn create_kv_table(&self, client: &aws_sdk_dynamodb::Client, table: &str) {
        use aws_sdk_dynamodb::types::*;
        let attribute = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
        };
        let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("ns"))
            .attribute_definitions(attribute("k"))
            .key_schema(key("pk", KeyType::Hash))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(plughost::capability::kv::NAMESPACE_INDEX)
                    .key_schema(key("ns", KeyType::Hash))
                    .key_schema(key("k", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .non_key_attributes("ttl")
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create table in moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
