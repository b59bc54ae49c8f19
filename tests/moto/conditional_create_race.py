"""Probes a moto 5.2.5 gap with boto3 alone (no plughost code): moto evaluates conditional
writes as check-then-write without a lock, so concurrent create-only writes to one key can
*both* succeed, where real AWS lets exactly one win:

- S3 PutObject with `If-None-Match: *` — `moto/s3/responses.py` `put_object` checks for the
  key, then does the write several steps later; seen with 2 winners in plughost's
  `make test` on a loaded 2-core machine (blob conformance, 2026-11-22);
- DynamoDB TransactWriteItems with `attribute_not_exists(pk)` — seen here with 2 winners
  (trial 9 of 10, two CPU hogs running alongside);
- DynamoDB PutItem with the same condition — the same unlocked code shape, not caught yet.

The window is small, so a trial usually shows 1; run it under load. Because of the gap,
the moto runs do not judge concurrent uniqueness (MOTO_GAPS in host/tests/integration/kv_conformance.rs
and host/tests/integration/blob_conformance.rs; the concurrency part of
host/tests/integration/users_products_api.rs); the embedded backends still run all of it. Re-check on
a moto upgrade:

    target/tools/moto/bin/python tests/moto/conditional_create_race.py target/tools/moto/bin/moto_server

Prints one line per trial and store; any `winners` above 1 shows a gap is still there.
"""
import subprocess, time, threading, urllib.request, boto3, botocore.config, sys
port = 5733
p = subprocess.Popen([sys.argv[1], "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/"); break
        except Exception: time.sleep(0.1)
    args = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t",
                config=botocore.config.Config(max_pool_connections=64))
    s3 = boto3.client("s3", **args)
    ddb = boto3.client("dynamodb", **args)
    s3.create_bucket(Bucket="race-bucket")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])

    def race(label, attempt, n=50):
        wins = []
        def run(i):
            try:
                attempt(i); wins.append(i)
            except Exception:
                pass
        ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        [t.start() for t in ts]; [t.join() for t in ts]
        return len(wins)

    for trial in range(20):
        key = f"k{trial}"
        s3_wins = race("s3", lambda i: s3.put_object(Bucket="race-bucket", Key=key, Body=str(i).encode() * 100000, IfNoneMatch="*"))
        ddb_wins = race("dynamodb", lambda i: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": f"name#{key}"}, "v": {"S": str(i)}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": f"user#{key}#{i}"}, "v": {"S": str(i)}},
                     "ConditionExpression": "attribute_not_exists(pk)"}}]))
        put_wins = race("dynamodb-put", lambda i: ddb.put_item(TableName="t",
            Item={"pk": {"S": f"single#{key}"}, "v": {"S": str(i)}}, ConditionExpression="attribute_not_exists(pk)"))
        print(f"trial {trial}: s3 winners = {s3_wins}, dynamodb transaction winners = {ddb_wins}, dynamodb put winners = {put_wins}")
finally:
    p.kill()
