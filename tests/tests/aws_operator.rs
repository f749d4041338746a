//! aws-operator against the embedded API server and a moto server, running
//! as its own ServiceAccount under the roles of `manifests/aws-operator/`:
//! credentials checked with STS, the cluster's CertConfigs, KMS key,
//! encrypted S3 bucket with the nodes' boot configurations, guest stack and
//! admin kubeconfig made once and read back, nothing written in a
//! steady state, bad credentials a permanent condition, and deletion
//! leaving nothing tagged with the cluster but the key pending its
//! deletion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::CertConfig;
use apiextensions::certificates::{KUBECONFIG_KEY, kubeconfig_secret_name};
use aws_operator::access::CREDENTIALS_VALID;
use aws_operator::aws::reasons::CREDENTIALS_INVALID;
use aws_operator::boot::BOOT_CONFIG_READY;
use aws_operator::bucket::BUCKET_READY;
use aws_operator::credentials::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use aws_operator::encryption::ENCRYPTION_KEY_READY;
use aws_operator::names;
use aws_operator::pki::CERTIFICATES_READY;
use aws_operator::stack::{HOST_STACK_READY, STACK_READY, reasons};
use aws_sdk_kms::types::KeyState;
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use e2e::aws::{self, account, create, wait_reason};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::DeleteParams;
use kube::config::Kubeconfig;
use operatorkit::testing::wait_for;

#[tokio::test(flavor = "multi_thread")]
async fn an_awsconfig_gets_its_kms_key_and_encrypted_bucket_and_takes_them_away() {
    let (env, moto) = aws::env().await;
    let run = aws::start(&env, &moto).await;
    let secret = env.name("aws-creds");
    aws::credentials(&env, &secret, &aws::moto_credentials()).await;
    let cluster = aws::cluster_id(&env, "c");
    let name = env.name("aws");
    create(&env, &aws::aws_config(&env, &name, &cluster, &secret)).await;

    let ready = wait_reason(&env, &name, "Ready", "Reconciled").await;
    for type_ in [
        CREDENTIALS_VALID,
        CERTIFICATES_READY,
        ENCRYPTION_KEY_READY,
        BUCKET_READY,
        BOOT_CONFIG_READY,
        STACK_READY,
    ] {
        let c = aws::condition(Some(&ready), type_).unwrap();
        assert_eq!(c.status, "True", "{type_}: {}", c.message);
    }
    let valid = aws::condition(Some(&ready), CREDENTIALS_VALID).unwrap();
    assert_eq!(valid.message, "account 123456789012 in eu-central-1");

    let status = ready.status.clone().unwrap();
    let stack_name = names::stack(&cluster, "guest");
    assert_eq!(status.stacks.len(), 1);
    assert_eq!(
        (
            status.stacks[0].name.as_str(),
            status.stacks[0].status.as_str()
        ),
        (stack_name.as_str(), "CREATE_COMPLETE")
    );
    assert_eq!(
        status.api_endpoint.as_deref(),
        Some(format!("https://api.{cluster}.aws.example.com").as_str())
    );
    assert_eq!(
        (status.ready_masters, status.ready_workers),
        (Some(3), Some(3))
    );
    let vpc = status.vpc_id.clone().unwrap();

    // The stack's resources, as moto lists them: the VPC of the status,
    // a public and a private subnet per zone, the groups, three masters,
    // one group of three workers, three load balancers, four records.
    let moto_account = account(&moto).await;
    let resources = moto_account
        .cloudformation
        .describe_stack_resources()
        .stack_name(&stack_name)
        .send()
        .await
        .unwrap();
    let of_type = |t: &str| {
        resources
            .stack_resources()
            .iter()
            .filter(|r| r.resource_type() == Some(t))
            .count()
    };
    assert_eq!(of_type("AWS::EC2::VPC"), 1);
    assert_eq!(of_type("AWS::EC2::Subnet"), 6);
    assert_eq!(of_type("AWS::EC2::SecurityGroup"), 5);
    assert_eq!(of_type("AWS::EC2::Instance"), 3);
    assert_eq!(of_type("AWS::AutoScaling::AutoScalingGroup"), 1);
    assert_eq!(of_type("AWS::ElasticLoadBalancing::LoadBalancer"), 3);
    assert_eq!(of_type("AWS::Route53::RecordSet"), 4);
    let subnets = moto_account
        .ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut zones: Vec<_> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort();
    zones.dedup();
    assert_eq!(zones, ["eu-central-1a", "eu-central-1b", "eu-central-1c"]);

    // What moto holds: the key under its alias, tagged; the bucket,
    // encrypted with that key by default, tagged, not public.
    let alias = names::key_alias(&cluster);
    let key = moto_account
        .kms
        .describe_key()
        .key_id(&alias)
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    let tags = moto_account
        .kms
        .list_resource_tags()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let tag = |k: &str| {
        tags.tags()
            .iter()
            .find(|t| t.tag_key() == k)
            .map(|t| t.tag_value().to_owned())
    };
    assert_eq!(
        tag("operatorkit.dev/cluster").as_deref(),
        Some(cluster.as_str())
    );
    assert_eq!(
        tag("aws-operator.operatorkit.dev/version").as_deref(),
        Some(aws::VERSION)
    );
    let bucket = names::bucket(&cluster, "123456789012");
    let encryption = moto_account
        .s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::AwsKms);
    assert_eq!(by_default.kms_master_key_id(), key.arn());
    let bucket_tags = moto_account
        .s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(
        bucket_tags
            .tag_set()
            .iter()
            .any(|t| t.key() == "operatorkit.dev/cluster" && t.value() == cluster)
    );
    let block = moto_account
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        block
            .public_access_block_configuration()
            .unwrap()
            .block_public_acls(),
        Some(true)
    );

    // The certificates: a CertConfig per component, owned by the AWSConfig.
    let certconfigs = env
        .api::<CertConfig>()
        .list(&Default::default())
        .await
        .unwrap();
    let mut owned: Vec<_> = certconfigs
        .items
        .iter()
        .filter(|c| c.spec.cluster_id == cluster)
        .map(|c| {
            assert_eq!(c.owner_references()[0].uid, ready.uid().unwrap());
            c.name_any()
        })
        .collect();
    owned.sort();
    let mut expected: Vec<_> = ["admin", "api", "etcd", "service-account", "worker"]
        .iter()
        .map(|c| format!("{cluster}-{c}"))
        .collect();
    expected.sort();
    assert_eq!(owned, expected);

    // The boot configurations: a master's and the workers', encrypted
    // with the cluster's key, each with its node's certificates only.
    let object_keys = || {
        let s3 = moto_account.s3.clone();
        let bucket = bucket.clone();
        async move {
            let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
            let keys = listed.contents().iter().filter_map(|o| o.key());
            keys.map(str::to_owned).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        object_keys().await,
        [
            "boot/master-0.json",
            "boot/master-1.json",
            "boot/master-2.json",
            "boot/worker.json"
        ]
    );
    let secret_of = |component: &str| {
        let name = format!("{cluster}-{component}");
        let api = env.api::<Secret>();
        async move { api.get(&name).await.unwrap() }
    };
    let worker_secret = secret_of("worker").await;
    let api_secret = secret_of("api").await;
    let read = |key: &'static str| {
        let s3 = moto_account.s3.clone();
        let bucket = bucket.clone();
        async move {
            let object = s3
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            assert_eq!(
                object.server_side_encryption(),
                Some(&ServerSideEncryption::AwsKms),
                "{key}"
            );
            let key_id = object.ssekms_key_id().map(str::to_owned);
            let body = object.body.collect().await.unwrap().into_bytes();
            (
                key_id,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let text =
        |s: &Secret, k: &str| String::from_utf8(s.data.as_ref().unwrap()[k].0.clone()).unwrap();
    let (worker_key, worker) = read("boot/worker.json").await;
    assert_eq!(worker_key.as_deref(), key.arn());
    let worker_certs = worker["certificates"].as_object().unwrap();
    assert_eq!(
        worker_certs.keys().collect::<Vec<_>>(),
        ["ca.crt", "worker.crt", "worker.key"]
    );
    assert_eq!(worker_certs["worker.key"], text(&worker_secret, "tls.key"));
    assert_eq!(worker["cluster"]["id"], cluster.as_str());
    let (_, master) = read("boot/master-1.json").await;
    assert_eq!(
        master["certificates"]["api.crt"],
        text(&api_secret, "tls.crt")
    );
    assert!(master["certificates"].get("admin.key").is_none());
    assert_eq!(master["node"]["index"], 1);

    // The admin kubeconfig, as kvm-operator writes it.
    let kubeconfig = env
        .api::<Secret>()
        .get(&kubeconfig_secret_name(&cluster))
        .await
        .unwrap();
    let read_back: Kubeconfig =
        serde_yaml::from_slice(&kubeconfig.data.as_ref().unwrap()[KUBECONFIG_KEY].0).unwrap();
    let server = read_back.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone();
    assert_eq!(server, status.api_endpoint);
    let admin = secret_of("admin").await;
    let user = read_back.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(
        user.client_certificate_data.as_deref(),
        Some(BASE64.encode(text(&admin, "tls.crt")).as_str())
    );

    // Steady state: touching the AWSConfig reconciles it again, and
    // nothing is written, in the cluster or (the key, the bucket) in AWS.
    let before = run.requests().snapshot();
    aws::touch(&env, &name, "1").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let since = run.requests().since(&before);
    let writes: Vec<_> = since
        .iter()
        .filter(|(k, n)| **n > 0 && operatorkit::testing::is_write(k))
        .collect();
    assert!(writes.is_empty(), "writes in steady state: {writes:?}");
    // One key of the cluster, made once (moto adds its own EBS key).
    let keys = moto_account.kms.list_keys().send().await.unwrap();
    let mut cluster_keys = 0;
    for k in keys.keys() {
        let tags = moto_account
            .kms
            .list_resource_tags()
            .key_id(k.key_id().unwrap())
            .send()
            .await
            .unwrap();
        cluster_keys += usize::from(tags.tags().iter().any(|t| t.tag_value() == cluster));
    }
    assert_eq!(cluster_keys, 1, "one key, made once");
    let stacks = moto_account
        .cloudformation
        .describe_stacks()
        .send()
        .await
        .unwrap();
    assert_eq!(stacks.stacks().len(), 1, "one stack, made once");
    assert_eq!(
        stacks.stacks()[0].stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE"),
        "not updated"
    );

    // A renewed certificate reaches the boot configuration: cert-operator
    // issues the worker's again (its Secret deleted), and the watch of the
    // cluster's Secrets brings the new key to boot/worker.json.
    // A boot object no node needs (a fourth master's, left over) is deleted
    // on that pass too, after the stacks.
    moto_account
        .s3
        .put_object()
        .bucket(&bucket)
        .key("boot/master-3.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let old_key = text(&worker_secret, "tls.key");
    env.api::<Secret>()
        .delete(&worker_secret.name_any(), &Default::default())
        .await
        .unwrap();
    let renewed = wait_for(
        &env.api::<Secret>(),
        &worker_secret.name_any(),
        aws::WAIT,
        |s| {
            s.and_then(|s| s.data.as_ref()?.get("tls.key"))
                .is_some_and(|k| k.0 != old_key.as_bytes())
        },
    )
    .await
    .unwrap()
    .unwrap();
    let new_key = text(&renewed, "tls.key");
    let deadline = tokio::time::Instant::now() + aws::WAIT;
    loop {
        let (_, worker) = read("boot/worker.json").await;
        if worker["certificates"]["worker.key"] == new_key.as_str() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "boot/worker.json never got the renewed key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        let keys = object_keys().await;
        if keys.len() == 4 {
            assert!(!keys.iter().any(|k| k == "boot/master-3.json"), "{keys:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "boot/master-3.json never pruned: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Before deletion, what the stack made is found: in EC2 by the
    // cluster's tag, the rest by the stack's name.
    let tagged = aws::tagged_leftovers(&moto, &cluster).await;
    assert!(tagged.contains(&format!("vpc {vpc}")), "{tagged:?}");
    for kind in [
        "subnet",
        "security-group",
        "instance",
        "nat-gateway",
        "route-table",
        "load-balancer",
        "auto-scaling-group",
        "iam-role",
        "instance-profile",
        "record",
    ] {
        assert!(
            tagged.iter().any(|t| t.starts_with(&format!("{kind} "))),
            "no {kind}: {tagged:?}"
        );
    }

    // Deletion: the stack goes, then what it left behind (moto keeps the
    // VPC); the bucket goes, the alias goes, the key waits its 7 days.
    aws::delete(&env, &name).await;
    assert_eq!(
        aws::tagged_leftovers(&moto, &cluster).await,
        Vec::<String>::new()
    );
    let stacks = moto_account
        .cloudformation
        .describe_stacks()
        .send()
        .await
        .unwrap();
    assert!(stacks.stacks().is_empty(), "{:?}", stacks.stacks());
    let head = moto_account.s3.head_bucket().bucket(&bucket).send().await;
    assert!(head.is_err(), "the bucket is gone");
    let certconfigs = env
        .api::<CertConfig>()
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        certconfigs
            .items
            .iter()
            .all(|c| c.spec.cluster_id != cluster),
        "the CertConfigs go with the cluster"
    );
    assert!(
        env.api::<Secret>()
            .get_opt(&kubeconfig_secret_name(&cluster))
            .await
            .unwrap()
            .is_none(),
        "the kubeconfig Secret goes with the cluster"
    );
    assert!(
        moto_account
            .kms
            .describe_key()
            .key_id(&alias)
            .send()
            .await
            .is_err()
    );
    let left = moto_account
        .kms
        .describe_key()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap();
    assert_eq!(
        left.key_metadata().unwrap().key_state(),
        Some(&KeyState::PendingDeletion)
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_incomplete_credentials_or_an_unknown_region_are_a_permanent_condition() {
    let (env, moto) = aws::env().await;
    let _run = aws::start(&env, &moto).await;
    let secret = env.name("aws-creds");
    let cluster = aws::cluster_id(&env, "c");
    let name = env.name("aws");
    create(&env, &aws::aws_config(&env, &name, &cluster, &secret)).await;

    let refused = wait_reason(&env, &name, CREDENTIALS_VALID, CREDENTIALS_INVALID).await;
    let message = &aws::condition(Some(&refused), CREDENTIALS_VALID)
        .unwrap()
        .message;
    assert!(
        message.contains(&secret) && message.contains("does not exist"),
        "{message}"
    );
    let ready = aws::condition(Some(&refused), "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", CREDENTIALS_INVALID)
    );

    // A Secret without the secret key: named, its values never shown.
    aws::credentials(&env, &secret, &[(ACCESS_KEY_ID, "AKIAEXAMPLE")]).await;
    aws::touch(&env, &name, "1").await;
    let incomplete =
        e2e::aws::wait_message(&env, &name, CREDENTIALS_VALID, SECRET_ACCESS_KEY).await;
    let message = &aws::condition(Some(&incomplete), CREDENTIALS_VALID)
        .unwrap()
        .message;
    assert!(!message.contains("AKIAEXAMPLE"), "{message}");

    // A region AWS does not list: permanent too, named (the good
    // credentials of another Secret do not help).
    let good = env.name("aws-good");
    aws::credentials(&env, &good, &aws::moto_credentials()).await;
    let nowhere = env.name("nowhere");
    let mut config = aws::aws_config(&env, &nowhere, &aws::cluster_id(&env, "n"), &good);
    config.spec.region = "xx-nowhere-9".into();
    config.spec.availability_zones = vec!["xx-nowhere-9a".into()];
    create(&env, &config).await;
    let unknown = wait_reason(&env, &nowhere, CREDENTIALS_VALID, CREDENTIALS_INVALID).await;
    let message = &aws::condition(Some(&unknown), CREDENTIALS_VALID)
        .unwrap()
        .message;
    assert!(message.contains("unknown region xx-nowhere-9"), "{message}");
    aws::delete(&env, &nowhere).await;

    // Fixed: the next change of the AWSConfig goes on.
    env.api::<k8s_openapi::api::core::v1::Secret>()
        .delete(&secret, &DeleteParams::default())
        .await
        .unwrap();
    aws::credentials(&env, &secret, &aws::moto_credentials()).await;
    aws::touch(&env, &name, "2").await;
    wait_reason(&env, &name, "Ready", "Reconciled").await;
    aws::delete(&env, &name).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosted_zone_missing_from_the_account_is_named_before_any_stack() {
    let (env, moto) = aws::env().await;
    let _run = aws::start(&env, &moto).await;
    let secret = env.name("aws-creds");
    aws::credentials(&env, &secret, &aws::moto_credentials()).await;
    let cluster = aws::cluster_id(&env, "z");
    let name = env.name("aws");
    let mut config = aws::aws_config(&env, &name, &cluster, &secret);
    config.spec.cluster.base_domain = "elsewhere.example.org".into();
    config.spec.hosted_zones.api = "elsewhere.example.org".into();
    config.spec.hosted_zones.etcd = "elsewhere.example.org".into();
    config.spec.hosted_zones.ingress = "elsewhere.example.org".into();
    create(&env, &config).await;
    let refused = wait_reason(&env, &name, "Ready", reasons::HOSTED_ZONE_MISSING).await;
    let message = &aws::condition(Some(&refused), "Ready").unwrap().message;
    assert!(
        message.contains("hosted zone elsewhere.example.org") && message.contains("123456789012"),
        "{message}"
    );
    let moto_account = account(&moto).await;
    let stacks = moto_account
        .cloudformation
        .describe_stacks()
        .send()
        .await
        .unwrap();
    assert!(stacks.stacks().is_empty(), "no stack tried");

    // The zone made: the next change of the AWSConfig goes on, past the
    // stacks, up to a Secret someone else already keeps under the
    // kubeconfig's name (without the cluster label, so outside the
    // operator's cache): named, neither overwritten nor deleted.
    let foreign = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(kubeconfig_secret_name(&cluster)),
            ..Default::default()
        },
        string_data: Some([("value".to_owned(), "theirs".to_owned())].into()),
        ..Default::default()
    };
    env.api::<Secret>()
        .create(&Default::default(), &foreign)
        .await
        .unwrap();
    aws::hosted_zone(&moto, "elsewhere.example.org").await;
    aws::touch(&env, &name, "1").await;
    let taken = wait_reason(&env, &name, "Ready", "KubeconfigSecretTaken").await;
    assert_eq!(
        aws::condition(Some(&taken), STACK_READY).unwrap().status,
        "True"
    );
    aws::delete(&env, &name).await;
    let kept = env
        .api::<Secret>()
        .get(&kubeconfig_secret_name(&cluster))
        .await
        .unwrap();
    assert_eq!(
        kept.data.unwrap()["value"].0,
        b"theirs",
        "someone else's Secret is left as it was"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peered_cluster_gets_its_host_side_stack_and_loses_it_first() {
    let (env, moto) = aws::env().await;
    let _run = aws::start(&env, &moto).await;
    let secret = env.name("aws-creds");
    aws::credentials(&env, &secret, &aws::moto_credentials()).await;
    // The host cluster's VPC, outside the guest's 10.10.0.0/16.
    let moto_account = account(&moto).await;
    let peer = moto_account
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let peer = peer.vpc().unwrap().vpc_id().unwrap().to_owned();
    let cluster = aws::cluster_id(&env, "h");
    let name = env.name("aws");
    let mut config = aws::aws_config(&env, &name, &cluster, &secret);
    config.spec.vpc.peer_id = Some(peer.clone());
    create(&env, &config).await;

    let ready = wait_reason(&env, &name, "Ready", "Reconciled").await;
    let host = aws::condition(Some(&ready), HOST_STACK_READY).unwrap();
    assert_eq!(
        (host.status.as_str(), host.reason.as_str()),
        ("True", "StackComplete")
    );
    let status = ready.status.unwrap();
    let names: Vec<_> = status.stacks.iter().map(|s| s.name.as_str()).collect();
    let (guest_stack, host_stack) = (
        names::stack(&cluster, "guest"),
        names::stack(&cluster, "host"),
    );
    assert_eq!(names, [guest_stack.as_str(), host_stack.as_str()]);
    let guest_vpc = status.vpc_id.unwrap();

    // The peering connection, from the guest VPC to the peer, and routes
    // both ways through it.
    let tag = aws_sdk_ec2::types::Filter::builder()
        .name("tag:operatorkit.dev/cluster")
        .values(&cluster)
        .build();
    let peerings = moto_account
        .ec2
        .describe_vpc_peering_connections()
        .filters(tag)
        .send()
        .await
        .unwrap();
    let peering = &peerings.vpc_peering_connections()[0];
    assert_eq!(
        peering.requester_vpc_info().unwrap().vpc_id(),
        Some(guest_vpc.as_str())
    );
    assert_eq!(
        peering.accepter_vpc_info().unwrap().vpc_id(),
        Some(peer.as_str())
    );
    let pcx = peering.vpc_peering_connection_id().unwrap();
    let routes_to = |vpc: &str, destination: &'static str| {
        let ec2 = moto_account.ec2.clone();
        let (vpc, pcx) = (vpc.to_owned(), pcx.to_owned());
        async move {
            let filter = aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build();
            let tables = ec2
                .describe_route_tables()
                .filters(filter)
                .send()
                .await
                .unwrap();
            tables
                .route_tables()
                .iter()
                .flat_map(|t| t.routes())
                .filter(|r| {
                    r.destination_cidr_block() == Some(destination)
                        && r.vpc_peering_connection_id() == Some(pcx.as_str())
                })
                .count()
        }
    };
    assert_eq!(
        routes_to(&peer, "10.10.0.0/16").await,
        1,
        "the peer's main table"
    );
    assert_eq!(
        routes_to(&guest_vpc, "10.0.0.0/16").await,
        3,
        "each private table"
    );

    // Deletion: the host-side stack goes first, then everything else.
    aws::delete(&env, &name).await;
    let stacks = moto_account
        .cloudformation
        .describe_stacks()
        .send()
        .await
        .unwrap();
    assert!(stacks.stacks().is_empty(), "{:?}", stacks.stacks());
    assert_eq!(
        aws::tagged_leftovers(&moto, &cluster).await,
        Vec::<String>::new()
    );
    assert_eq!(
        routes_to(&peer, "10.10.0.0/16").await,
        0,
        "the peer's route is gone"
    );
    env.stop().await;
}
