"""moto_server, extended into the AWS stand-in of `cargo xtask emulate` and the deploy tests.

moto (pinned in the project venv) serves the AWS APIs the deployment uses, but its
CloudFormation lacks some resource types of infra/templates/frocket.yaml. This launcher
registers them, backed by moto's own service backends so that the plain APIs (DescribeReplicationGroups,
GetSecretValue, GetFunctionUrlConfig, GetFunctionEventInvokeConfig) see what the stack made:

- AWS::SecretsManager::Secret (GenerateSecretString), and `{{resolve:secretsmanager:...}}`
  dynamic references in the properties of the types below;
- AWS::ElastiCache::SubnetGroup;
- AWS::ElastiCache::ReplicationGroup: registered in moto's ElastiCache backend, and backed by a
  real `redis-server` started on a free loopback port with the group's AUTH token (and TLS when
  `TransitEncryptionEnabled` and a certificate directory is given); its
  `PrimaryEndPoint.Address/Port` attributes are that server's. Deleting the group stops it.
- AWS::Lambda::EventInvokeConfig and AWS::Lambda::Url, through moto's Lambda backend.

Behaviours changed to be like AWS's:
- resources write stack events (`CREATE_IN_PROGRESS`, `..._COMPLETE`, `..._FAILED` with the
  reason), and a failed change set rolls the stack back (`ROLLBACK_COMPLETE` after a failed
  creation, which deletes what it made; `UPDATE_ROLLBACK_COMPLETE` after a failed update, which
  keeps the resources as they were: the stand-in's own types fail before changing anything,
  moto's types changed earlier in the same update are not reverted) instead of failing the
  ExecuteChangeSet call and leaving the stack in progress;
- a stack whose deletion fails is DELETE_FAILED with the reason in its events (moto dropped it);
- the stand-in ElastiCache refuses node types outside a known list, as ElastiCache does;
- the YAML short form `!GetAtt [Resource, Attribute.Path]` (a sequence) is read as CloudFormation
  reads it (moto kept the YAML nodes and failed the stack);
- GetFunction's `Code.Location` is a URL the code can be downloaded from (AWS answers a
  pre-signed URL; moto a placeholder): a pre-signed URL of the object in moto's own S3. The emulator's front fetches
  the `bootstrap` from there.
- a change set lists the resources a changed parameter modifies (moto compared templates only);
- a stack created or updated through a change set has its outputs (moto computed them before
  the resources existed, and left them empty);
- IAM policy documents are stored as JSON, `AWS::NoValue` list elements removed (moto stored
  Python reprs, with the NoValue left in as null);
- a bucket's PublicAccessBlockConfiguration and OwnershipControls are applied (moto ignored
  them);
- subnet route table associations are made on the route table (moto kept them where
  DescribeRouteTables did not show them);
- VPC endpoints, route tables and subnet route table associations are deleted with their stack (moto's
  models had no delete: the route table, and the VPC it holds on to, leaked with
  DependencyViolation).

Usage: python moto_ext.py --port PORT --redis-server PATH [--tls-dir DIR]
(DIR holds ca.crt, redis.crt, redis.key). Prints nothing of its own; moto logs requests.
"""

import argparse
import atexit
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import moto.backends  # noqa: F401  (loads every service)
from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import Change, ChangeSet, CloudFormationBackend, Event, cloudformation_backends
from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteTable
from moto.ec2.models.subnets import SubnetRouteTableAssociation
from moto.ec2.models.vpcs import VPCEndPoint
from moto.elasticache.models import elasticache_backends
from moto.iam.models import ManagedPolicy, Role
from moto.s3.models import FakeBucket, s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.utilities.utils import get_partition

ARGS = None
REDIS = {}  # replication group id -> Popen
RESOLVE = re.compile(r"\{\{resolve:secretsmanager:(.+?)(?::SecretString(?::([^:}]*))?)?\}\}")


def resolve(value, account_id, region):
    """Resolves Secrets Manager dynamic references in a string (CloudFormation does it)."""
    if not isinstance(value, str):
        return value

    def one(m):
        backend = secretsmanager_backends[account_id][region]
        secret = backend.get_secret_value(m.group(1), None, None)
        text = secret["SecretString"]
        if m.group(2):
            text = json.loads(text)[m.group(2)]
        return text

    return RESOLVE.sub(one, value)


def call(fn, **known):
    """Calls a moto backend method with the arguments we know and None for the rest."""
    args = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self":
            continue
        if name in known:
            args[name] = known[name]
        elif p.default is inspect.Parameter.empty:
            args[name] = None
    return fn(**args)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(token, tls):
    port = free_port()
    cmd = [ARGS.redis_server, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if tls and ARGS.tls_dir:
        d = ARGS.tls_dir
        cmd += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", os.path.join(d, "redis.crt"),
                "--tls-key-file", os.path.join(d, "redis.key"), "--tls-ca-cert-file", os.path.join(d, "ca.crt"),
                "--tls-auth-clients", "no"]
    else:
        cmd += ["--port", str(port)]
    if token:
        cmd += ["--requirepass", token]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}")
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start within 10 s")


def stop_all_redis():
    for proc in REDIS.values():
        proc.kill()
        proc.wait()


class ExtBase:
    """What the types below share. Each is a *direct* subclass of CloudFormationModel: moto
    finds the types it supports with `CloudFormationModel.__subclasses__()`."""

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr in cls.ATTRS

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass


class ExtSecret(ExtBase, CloudFormationModel):
    __module__ = "moto.frocket_ext"  # moto files models by the module's second name

    ATTRS = ["Id"]

    def __init__(self, arn, name):
        self.arn, self.name = arn, name

    @staticmethod
    def cloudformation_type():
        return "AWS::SecretsManager::Secret"

    @property
    def physical_resource_id(self):
        return self.arn

    def get_cfn_attribute(self, attr):
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        p = cloudformation_json["Properties"]
        backend = secretsmanager_backends[account_id][region_name]
        name = p.get("Name", resource_name)
        value = p.get("SecretString")
        gen = p.get("GenerateSecretString")
        if value is None and gen is not None:
            value = backend.get_random_password(
                int(gen.get("PasswordLength", 32)), gen.get("ExcludeCharacters", ""),
                gen.get("ExcludeNumbers", False), gen.get("ExcludePunctuation", False),
                gen.get("ExcludeUppercase", False), gen.get("ExcludeLowercase", False),
                gen.get("IncludeSpace", False), gen.get("RequireEachIncludedType", True))
            value = json.loads(value)["RandomPassword"] if isinstance(value, str) else value["RandomPassword"]
        out = call(backend.create_secret, name=name, secret_string=value, description=p.get("Description"),
                   tags=p.get("Tags"), replica_regions=[], force_overwrite=False)
        arn = json.loads(out)["ARN"] if isinstance(out, str) else out["ARN"]
        return cls(arn, name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        return original_resource  # the value is kept across updates, as CloudFormation does

    def delete(self, account_id, region_name):
        secretsmanager_backends[account_id][region_name].delete_secret(self.arn, None, True)


class ExtCacheSubnetGroup(ExtBase, CloudFormationModel):
    __module__ = "moto.frocket_ext"  # moto files models by the module's second name

    ATTRS = []

    def __init__(self, name):
        self.name = name

    @staticmethod
    def cloudformation_type():
        return "AWS::ElastiCache::SubnetGroup"

    @property
    def physical_resource_id(self):
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        p = cloudformation_json["Properties"]
        name = p.get("CacheSubnetGroupName", resource_name).lower()[:255]
        elasticache_backends[account_id][region_name].create_cache_subnet_group(
            name, p.get("Description", ""), p.get("SubnetIds", []), None)
        return cls(name)

    def delete(self, account_id, region_name):
        elasticache_backends[account_id][region_name].delete_cache_subnet_group(self.name)


NODE_FAMILIES = {"t2", "t3", "t4g", "m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn"}
NODE_SIZES = {"micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
              "24xlarge"}


def check_node_type(node_type):
    """ElastiCache refuses node types it does not have; so does the stand-in (a known list)."""
    parts = (node_type or "").split(".")
    if len(parts) != 3 or parts[0] != "cache" or parts[1] not in NODE_FAMILIES or parts[2] not in NODE_SIZES:
        raise ValueError(f"Invalid parameter: CacheNodeType {node_type!r} is not a supported node type "
                         "(Service: AmazonElastiCache; Status Code: 400; Error Code: InvalidParameterValue)")


class ExtReplicationGroup(ExtBase, CloudFormationModel):
    __module__ = "moto.frocket_ext"  # moto files models by the module's second name

    ATTRS = ["PrimaryEndPoint.Address", "PrimaryEndPoint.Port", "ReaderEndPoint.Address",
             "ReaderEndPoint.Port"]

    def __init__(self, group_id, port):
        self.group_id, self.port = group_id, port

    @staticmethod
    def cloudformation_type():
        return "AWS::ElastiCache::ReplicationGroup"

    @property
    def physical_resource_id(self):
        return self.group_id

    def get_cfn_attribute(self, attr):
        return "127.0.0.1" if attr.endswith("Address") else str(self.port)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        p = cloudformation_json["Properties"]
        check_node_type(p.get("CacheNodeType"))
        group_id = p.get("ReplicationGroupId") or re.sub(r"[^a-z0-9-]", "-", resource_name.lower())[-40:].strip("-")
        token = resolve(p.get("AuthToken"), account_id, region_name)
        tls = str(p.get("TransitEncryptionEnabled", "false")).lower() == "true"
        proc, port = start_redis(token, tls)
        REDIS[group_id] = proc
        call(elasticache_backends[account_id][region_name].create_replication_group,
             replication_group_id=group_id, replication_group_description=p.get("ReplicationGroupDescription", ""),
             automatic_failover_enabled=str(p.get("AutomaticFailoverEnabled", "false")).lower() == "true",
             multi_az_enabled=str(p.get("MultiAZEnabled", "false")).lower() == "true",
             num_cache_clusters=int(p.get("NumCacheClusters", 1)), cache_node_type=p.get("CacheNodeType"),
             engine=p.get("Engine", "redis"), cache_subnet_group_name=p.get("CacheSubnetGroupName"),
             security_group_ids=p.get("SecurityGroupIds", []), port=port, auth_token=token,
             transit_encryption_enabled=tls,
             at_rest_encryption_enabled=str(p.get("AtRestEncryptionEnabled", "false")).lower() == "true",
             tags=p.get("Tags", []), preferred_cache_cluster_azs=[], node_group_configuration=[],
             cache_security_group_names=[], snapshot_arns=[], user_group_ids=[],
             log_delivery_configurations=[], snapshot_retention_limit=0)
        # The primary and its replicas, as ElastiCache names them (moto made one).
        group = elasticache_backends[account_id][region_name].replication_groups[group_id]
        group.member_clusters = [f"{group_id}-{i + 1:03}" for i in range(int(p.get("NumCacheClusters", 1)))]
        return cls(group_id, port)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        # Node type / count changes are applied in place by ElastiCache; the data survives.
        p = cloudformation_json["Properties"]
        check_node_type(p.get("CacheNodeType"))
        for g in elasticache_backends[account_id][region_name].describe_replication_groups(original_resource.group_id):
            if p.get("CacheNodeType"):
                g.cache_node_type = p["CacheNodeType"]
        return original_resource

    def delete(self, account_id, region_name):
        proc = REDIS.pop(self.group_id, None)
        if proc:
            proc.kill()
            proc.wait()
        backend = elasticache_backends[account_id][region_name]
        backend.delete_replication_group(self.group_id, False)
        backend.replication_groups.pop(self.group_id, None)  # CloudFormation waits until it is gone


class ExtEventInvokeConfig(ExtBase, CloudFormationModel):
    __module__ = "moto.frocket_ext"  # moto files models by the module's second name

    ATTRS = []

    def __init__(self, function):
        self.function = function

    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::EventInvokeConfig"

    @property
    def physical_resource_id(self):
        return self.function

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        p = dict(cloudformation_json["Properties"])
        function = p.pop("FunctionName")
        p.pop("Qualifier", None)
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if k in p:
                p[k] = int(p[k])
        lambda_backends[account_id][region_name].put_function_event_invoke_config(function, p)
        return cls(function)

    def delete(self, account_id, region_name):
        try:
            lambda_backends[account_id][region_name].delete_function_event_invoke_config(self.function)
        except Exception:  # the function went first
            pass


class ExtFunctionUrl(ExtBase, CloudFormationModel):
    __module__ = "moto.frocket_ext"  # moto files models by the module's second name

    ATTRS = ["FunctionUrl", "FunctionArn"]

    def __init__(self, function_arn, url):
        self.function_arn, self.url = function_arn, url

    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::Url"

    @property
    def physical_resource_id(self):
        return self.function_arn

    def get_cfn_attribute(self, attr):
        return self.url if attr == "FunctionUrl" else self.function_arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        p = dict(cloudformation_json["Properties"])
        target = p.pop("TargetFunctionArn")
        cfg = lambda_backends[account_id][region_name].create_function_url_config(target, p)
        return cls(target, cfg.to_dict()["FunctionUrl"])

    def delete(self, account_id, region_name):
        try:
            lambda_backends[account_id][region_name].delete_function_url_config(self.function_arn)
        except Exception:
            pass


def code_location(self):
    """GetFunction's Code.Location: a pre-signed URL of the zip in moto's S3, as in AWS."""
    resp = ORIGINAL_GET_CODE(self)
    if "S3Bucket" in self.code and "S3Key" in self.code:
        import boto3

        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{ARGS.port}", region_name=self.region,
                          aws_access_key_id="emulator", aws_secret_access_key="emulator-secret")
        resp["Code"]["Location"] = s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.code["S3Bucket"], "Key": self.code["S3Key"]}, ExpiresIn=600)
    return resp


def yaml_tag_constructor(loader, tag, node):
    """moto's, with `!GetAtt [Resource, Attribute.Path]` (a sequence) read as one."""
    import yaml

    key = "Ref" if tag == "!Ref" else f"Fn::{tag[1:]}"
    if isinstance(node, yaml.SequenceNode):
        return {key: loader.construct_sequence(node, deep=True)}
    if isinstance(node, yaml.MappingNode):
        return {key: loader.construct_mapping(node, deep=True)}
    if tag == "!GetAtt":
        return {key: node.value.split(".", 1)}
    return {key: node.value}


def delete_endpoint(self, account_id, region_name):
    ec2_backends[account_id][region_name].delete_vpc_endpoints([self.id])


def without_novalue(v):
    """`!If [c, x, !Ref AWS::NoValue]` in a list removes the element in CloudFormation."""
    if isinstance(v, list):
        return [without_novalue(x) for x in v if x is not None]
    if isinstance(v, dict):
        return {k: without_novalue(x) for k, x in v.items() if x is not None}
    return v


def json_policies(properties):
    """Policy documents as the JSON IAM stores (moto stored Python reprs, with NoValue left in)."""
    for p in properties.get("Policies") or []:
        if isinstance(p.get("PolicyDocument"), dict):
            p["PolicyDocument"] = json.dumps(without_novalue(p["PolicyDocument"]))
    if isinstance(properties.get("PolicyDocument"), dict):  # a managed policy: moto encodes it
        properties["PolicyDocument"] = without_novalue(properties["PolicyDocument"])


def with_json_policies(original):
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        json_policies(cloudformation_json.get("Properties", {}))
        return original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kw)

    return classmethod(create)


def create_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
    """moto's, then the properties it ignored: PublicAccessBlockConfiguration, OwnershipControls."""
    bucket = ORIGINAL_CREATE_BUCKET.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kw)
    p = cloudformation_json.get("Properties", {})
    backend = s3_backends[account_id][get_partition(region_name)]
    block = p.get("PublicAccessBlockConfiguration")
    if block:
        backend.put_public_access_block(bucket.name, {k: str(v).lower() for k, v in block.items()})
    ownership = p.get("OwnershipControls")
    if ownership:
        backend.put_bucket_ownership_controls(bucket.name, ownership)
    return bucket


def build_change_set_actions(self, template, parameters=None):
    """moto's, with the parameters compared too (moto listed no change when only a parameter
    changed; its update did apply them)."""
    diff = self.build_resource_diff
    self.build_resource_diff = lambda t, p=None: diff(t, parameters)
    try:
        return ORIGINAL_BUILD_ACTIONS(self, template)
    finally:
        del self.build_resource_diff


def change_set_diff(self):
    actions = self.stack.resource_map.build_change_set_actions(self.template_dict, self.parameters)
    return [Change(action=a, logical_resource_id=n, resource_type=r["ResourceType"])
            for a, resources in actions.items() for n, r in resources.items()]


def apply_change_set(self):
    """moto's, then the stack's outputs computed from what the change set made."""
    ORIGINAL_APPLY(self)
    self.stack.output_map = parsing.OutputMap(self.stack.resource_map, self.template_dict, self.stack.stack_id)


def stack_of(resources_map):
    backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    return backend.stacks.get(resources_map.stack_id) or backend.deleted_stacks.get(resources_map.stack_id)


def resource_event(resources_map, logical_id, resource_type, status, reason=None, physical_id=None):
    """A per-resource stack event, as CloudFormation writes them (moto writes stack events only)."""
    stack = stack_of(resources_map)
    if stack is None:
        return
    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                              physical_resource_id=physical_id or "", resource_type=resource_type,
                              resource_status=status, resource_status_reason=reason, resource_properties=None))


def with_events(action, original):
    def wrapped(logical_id, resource_json, resources_map, account_id, region_name):
        rtype = resource_json.get("Type", "")
        condition = resource_json.get("Condition")
        if condition and action == "CREATE" and not resources_map.lazy_condition_map[condition]:
            return original(logical_id, resource_json, resources_map, account_id, region_name)
        # moto retries a failing resource a few times: one IN_PROGRESS event for all of them,
        # and the FAILED one is written once, when the change set fails (execute_change_set).
        started = resources_map.__dict__.setdefault("_frocket_started", set())
        if (action, logical_id) not in started:
            started.add((action, logical_id))
            resource_event(resources_map, logical_id, rtype, f"{action}_IN_PROGRESS")
        try:
            made = original(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as e:
            e.frocket_failure = (logical_id, rtype, f"{action}_FAILED", str(e))
            raise
        physical = getattr(made, "physical_resource_id", None) if made is not None else None
        resource_event(resources_map, logical_id, rtype, f"{action}_COMPLETE", None, physical)
        return made

    return wrapped


def delete_with_event(self, parsed_resource, resource_json):
    ORIGINAL_DELETE_RESOURCE(self, parsed_resource, resource_json)
    resource_event(self, parsed_resource.logical_resource_id, resource_json.get("Type", ""), "DELETE_COMPLETE")


def execute_change_set(self, change_set_name, stack_name=None):
    """moto's, with a failure handled as CloudFormation does: the call succeeds, the stack rolls
    back (a failed creation deletes what it made: ROLLBACK_COMPLETE; a failed update keeps the
    resources as they were: UPDATE_ROLLBACK_COMPLETE), and the events name the failed resource."""
    change_set = self.change_sets.get(change_set_name) or next(
        (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
    try:
        done = ORIGINAL_EXECUTE(self, change_set_name, stack_name)
        if change_set is not None:
            self.stacks[change_set.stack_id].resource_map.__dict__.pop("_frocket_started", None)
        return done
    except Exception as e:
        if change_set is None:
            raise
        stack = self.stacks[change_set.stack_id]
        stack.resource_map.__dict__.pop("_frocket_started", None)
        failure = getattr(e, "frocket_failure", None)
        failed = failure[0] if failure else "unknown"
        if failure:
            resource_event(stack.resource_map, *failure)
        reason = f"The following resource(s) failed to {'create' if change_set.change_set_type == 'CREATE' else 'update'}: [{failed}]."
        if change_set.change_set_type == "CREATE":
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", reason + " Rollback requested by user.")
            try:
                stack.resource_map.delete()
            except Exception:
                pass
            stack.status = "ROLLBACK_COMPLETE"
            stack._add_stack_event("ROLLBACK_COMPLETE")
        else:
            stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", reason)
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
            stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        change_set.execution_status = "EXECUTE_FAILED"
        return None


def delete_stack(self, name_or_stack_id):
    """moto's, with a failure left visible as CloudFormation leaves it: DELETE_FAILED and the
    reason in the events (moto dropped the stack and answered an error)."""
    stack = self.stacks.get(name_or_stack_id) or next(
        (s for s in self.stacks.values() if s.name == name_or_stack_id), None)
    if stack is None:
        return None
    try:
        return ORIGINAL_DELETE_STACK(self, stack.stack_id)
    except Exception as e:
        self.stacks[stack.stack_id] = stack
        self.deleted_stacks.pop(stack.stack_id, None)
        stack.status = "DELETE_FAILED"
        stack._add_stack_event("DELETE_FAILED", str(e))
        return None


def delete_route_table(self, account_id, region_name):
    """After the endpoints routing through it, as CloudFormation orders deletions by reference."""
    backend = ec2_backends[account_id][region_name]
    for e in backend.vpc_end_points.values():
        if e.state != "deleted" and self.id in (e.route_table_ids or []):
            raise DependencyViolationError(f"The routeTable '{self.id}' has dependencies and cannot be deleted.")
    backend.delete_route_table(self.id)


def create_association(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
    """A subnet's association made on its route table (moto kept it aside, where
    DescribeRouteTables did not show it)."""
    p = cloudformation_json["Properties"]
    backend = ec2_backends[account_id][region_name]
    association = SubnetRouteTableAssociation(p["RouteTableId"], p["SubnetId"])
    association.association_id = backend.associate_route_table(p["RouteTableId"], subnet_id=p["SubnetId"])
    return association


def delete_association(self, account_id, region_name):
    association_id = getattr(self, "association_id", None)
    if association_id:
        ec2_backends[account_id][region_name].disassociate_route_table(association_id)


ORIGINAL_GET_CODE = LambdaFunction.get_code
ORIGINAL_APPLY = ChangeSet.apply
ORIGINAL_BUILD_ACTIONS = parsing.ResourceMap.build_change_set_actions
ORIGINAL_CREATE_BUCKET = FakeBucket.create_from_cloudformation_json
ORIGINAL_EXECUTE = CloudFormationBackend.execute_change_set
ORIGINAL_DELETE_STACK = CloudFormationBackend.delete_stack
ORIGINAL_DELETE_RESOURCE = parsing.ResourceMap._delete_resource


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis-server", required=True)
    ap.add_argument("--tls-dir")
    ARGS = ap.parse_args()
    LambdaFunction.get_code = code_location
    ChangeSet.apply = apply_change_set
    ChangeSet.diff = change_set_diff
    parsing.ResourceMap.build_change_set_actions = build_change_set_actions
    FakeBucket.create_from_cloudformation_json = classmethod(create_bucket)
    Role.create_from_cloudformation_json = with_json_policies(Role.create_from_cloudformation_json)
    ManagedPolicy.create_from_cloudformation_json = with_json_policies(ManagedPolicy.create_from_cloudformation_json)
    CloudFormationBackend.execute_change_set = execute_change_set
    CloudFormationBackend.delete_stack = delete_stack
    parsing.parse_and_create_resource = with_events("CREATE", parsing.parse_and_create_resource)
    parsing.parse_and_update_resource = with_events("UPDATE", parsing.parse_and_update_resource)
    parsing.ResourceMap._delete_resource = delete_with_event
    VPCEndPoint.delete = delete_endpoint
    SubnetRouteTableAssociation.delete = delete_association
    SubnetRouteTableAssociation.create_from_cloudformation_json = classmethod(create_association)
    RouteTable.delete = delete_route_table
    from moto.cloudformation import models as cf_models, responses as cf_responses

    cf_models.yaml_tag_constructor = yaml_tag_constructor
    cf_responses.yaml_tag_constructor = yaml_tag_constructor
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    atexit.register(stop_all_redis)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(ARGS.port)])


if __name__ == "__main__":
    main()
