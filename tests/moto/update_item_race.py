"""Reproduces a moto 5.2.5 gap, with boto3 alone (no plughost code): concurrent UpdateItem
calls that `SET` attributes and `ADD` a counter on a new key lose updates (n < 50), which
real DynamoDB never does (UpdateItem is atomic). Because of it the DynamoDB run of the kv
conformance suite skips `concurrent_increments_lose_nothing` (see MOTO_GAPS in
host/tests/integration/kv_conformance.rs). Re-check on a moto upgrade:

    target/tools/moto/bin/python tests/moto/update_item_race.py target/tools/moto/bin/moto_server

Prints one line per trial; any `n` below 50 shows the gap is still there.
"""
import subprocess, time, threading, urllib.request, boto3, sys, random
port = 5732
p = subprocess.Popen([sys.argv[1], "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/"); break
        except Exception: time.sleep(0.1)
    ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="t", aws_secret_access_key="t")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for trial in range(8):
        key = f"ns#c{trial}"; failures = []
        def add():
            try:
                ddb.update_item(TableName="t", Key={"pk": {"S": key}},
                    UpdateExpression="SET ns = :ns, k = :k, ver = :ver ADD n :delta",
                    ConditionExpression="attribute_not_exists(pk) OR (attribute_not_exists(v) AND attribute_exists(n) AND n <= :bound AND (attribute_not_exists(#ttl) OR #ttl > :now))",
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues={":ns": {"S": "ns"}, ":k": {"S": key}, ":ver": {"N": str(random.getrandbits(62))},
                        ":delta": {"N": "1"}, ":bound": {"N": str(2**63 - 2)}, ":now": {"N": str(int(time.time()))}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except ddb.exceptions.ConditionalCheckFailedException as e:
                failures.append(e.response.get("Item"))
        ts = [threading.Thread(target=add) for _ in range(50)]
        [t.start() for t in ts]; [t.join() for t in ts]
        n = ddb.get_item(TableName="t", Key={"pk": {"S": key}})["Item"]["n"]["N"]
        print(f"trial {trial}: n = {n} (+ {len(failures)} condition failures: {failures[:2]})")
finally:
    p.kill()
