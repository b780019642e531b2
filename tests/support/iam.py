"""The functions' IAM roles, offline: the template as aws-sam-translator deploys it, and a small evaluator.

- :func:`translate` gives the template as CloudFormation receives it (policy templates expanded, one role
  per function, SAM's own additions such as the dead-letter queue policy).
- :class:`Binding` names the template's resources as a test stack names them: the environment the template
  gives the functions says which setting holds which resource (``RUNS_TABLE: !Ref RunsTable``), so the
  policies' intrinsic functions (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``) resolve to the ARNs that
  the tests' requests use.
- :func:`requests_of` turns one API call into the IAM requests it needs (action, resource, context):
  ``TransactWriteItems`` needs the action of each item on its table, ``Query`` on an index needs the index,
  ``CreateSchedule`` also passes the scheduler's role, SES v2 ``SendEmail`` needs the identity and the
  configuration set (with the ``ses:FromAddress`` condition key).
- :class:`Grant` is one entry of a role's policies as the template lists it (a policy template and its
  table, or one action of a statement), and :func:`allowing` says which grants allow a request: ``Allow``
  statements with ``Action``/``Resource`` wildcards and the ``String*``/``Arn*`` condition operators (condition
  keys compared without regard to case, as IAM does).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from automations.settings import ENVIRONMENT, Settings
from automations_local.cfn import Intrinsics
from automations_local.template import function_environment, load_template, resources_of
from samtranslator.translator.transform import transform

from tests.support.aws import ACCOUNT, REGION, TEMPLATE
from tests.support.recorder import AwsCall

PARTITION = "aws"


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@cache
def source_template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@cache
def translate() -> dict[str, Any]:
    """The template as ``sam package`` hands it to CloudFormation, translated by aws-sam-translator."""
    packaged = copy.deepcopy(source_template())
    for name, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = f"s3://artifacts-bucket/{name}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    translated: dict[str, Any] = transform(packaged, {}, _NoManagedPolicies())
    return translated


@cache
def function_ids() -> dict[str, str]:
    """Each handler folder (``ingest_trigger``) and its function's logical id (``IngestTriggerFunction``)."""
    out = {}
    for logical_id, resource in resources_of(source_template(), "AWS::Serverless::Function").items():
        code = str(resource["Properties"]["CodeUri"]).rstrip("/")
        out[code.rsplit("/", 1)[-1]] = logical_id
    return out


# --- naming the template's resources ---------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """The physical names of the template's resources in one stack: ``Ref`` values and ``Fn::GetAtt`` values."""

    template: Mapping[str, Any]
    refs: Mapping[str, str]
    attributes: Mapping[tuple[str, str], str]
    region: str = REGION
    account: str = ACCOUNT

    @classmethod
    def of(cls, settings: Settings, template: Mapping[str, Any] | None = None) -> Binding:
        """Bind each resource that a function's environment names to the setting that the variable fills."""
        template = template or source_template()
        refs: dict[str, str] = {}
        attributes: dict[tuple[str, str], str] = {}
        functions = resources_of(dict(template), "AWS::Serverless::Function")
        for function in functions:
            for variable, value in function_environment(dict(template), function).items():
                setting = getattr(settings, ENVIRONMENT.get(variable, ""), None)
                if not setting or not isinstance(value, dict):
                    continue
                if "Ref" in value:
                    refs[value["Ref"]] = str(setting)
                elif "Fn::GetAtt" in value:
                    logical_id, attribute = value["Fn::GetAtt"]
                    attributes[(logical_id, attribute)] = str(setting)
        return cls(template, refs, attributes)

    def kind(self, logical_id: str) -> str:
        return str(self.template["Resources"].get(logical_id, {}).get("Type", ""))

    def ref(self, logical_id: str) -> str:
        """What ``Ref`` gives: a table's, a group's or a configuration set's name, a queue's URL, a topic's ARN."""
        if logical_id in self.refs:
            return self.refs[logical_id]
        kind = self.kind(logical_id)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name_of(logical_id)}"
        if kind in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):
            return self.get_att(logical_id, "Arn")
        return self.name_of(logical_id)

    def name_of(self, logical_id: str) -> str:
        """A resource's name: bound through a setting, or its logical id when no setting names it."""
        if logical_id in self.refs:
            bound = self.refs[logical_id]
            return bound.rstrip("/").rsplit("/", 1)[-1] if bound.startswith("https://") else bound
        arn = self.attributes.get((logical_id, "Arn"))
        if arn is not None:
            return re.split(r"[:/]", arn)[-1]
        return logical_id

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[(logical_id, attribute)]
        kind = self.kind(logical_id)
        name = self.name_of(logical_id)
        prefix = f"arn:{PARTITION}"
        if attribute == "QueueName":
            return name
        if attribute == "Name":
            return name
        if attribute != "Arn":
            raise KeyError(f"no value for {logical_id}.{attribute}")
        arns = {
            "AWS::DynamoDB::Table": f"{prefix}:dynamodb:{self.region}:{self.account}:table/{name}",
            "AWS::SQS::Queue": f"{prefix}:sqs:{self.region}:{self.account}:{name}",
            "AWS::SNS::Topic": f"{prefix}:sns:{self.region}:{self.account}:{name}",
            "AWS::IAM::Role": f"{prefix}:iam::{self.account}:role/{name}",
            "AWS::Scheduler::ScheduleGroup": f"{prefix}:scheduler:{self.region}:{self.account}:schedule-group/{name}",
            "AWS::Events::EventBus": f"{prefix}:events:{self.region}:{self.account}:event-bus/{name}",
            "AWS::SecretsManager::Secret": f"{prefix}:secretsmanager:{self.region}:{self.account}:secret:{name}",
            "AWS::Lambda::Function": f"{prefix}:lambda:{self.region}:{self.account}:function:{name}",
            "AWS::Serverless::Function": f"{prefix}:lambda:{self.region}:{self.account}:function:{name}",
        }
        if kind not in arns:
            raise KeyError(f"no ARN for {logical_id} ({kind})")
        return arns[kind]

    def pseudo(self, name: str) -> str | None:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "automations-test",
        }
        return values.get(name)

    def resolve(self, value: Any) -> Any:
        """A policy value with its intrinsic functions resolved (lists stay lists)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, arg)] = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} in a policy is not understood by this evaluator")
        return {k: self.resolve(v) for k, v in value.items()}

    def condition(self, name: str) -> bool:
        """A condition of the template, with the parameters as this stack binds them (else their defaults)."""
        parameters = {parameter: self._ref(parameter) for parameter in self.template.get("Parameters", {})}
        return Intrinsics(dict(self.template), region=self.region, parameters=parameters).condition(name)

    def _ref(self, name: str) -> str:
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.refs:
            return self.refs[name]
        parameters = self.template.get("Parameters", {})
        if name in parameters:
            return str(parameters[name].get("Default", ""))
        return self.ref(name)

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: str(self.resolve(v)) for k, v in variables.items()}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return values[name]
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self._ref(name)

        return re.sub(r"\$\{([^}]+)\}", fill, text)


# --- the IAM requests of an API call ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class IamRequest:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.context)
        return f"{self.action} on {self.resource}{extra}"


class UnmappedCallError(Exception):
    """An API call this module does not know the IAM actions of: add it to :func:`requests_of`."""


def _arn(service: str, region: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _table(region: str, name: str, index: str | None = None) -> str:
    if name.startswith("arn:"):
        return name
    return _arn("dynamodb", region, f"table/{name}" + (f"/index/{index}" if index else ""))


def _queue(url_or_name: str, region: str) -> str:
    if url_or_name.startswith("arn:"):
        return url_or_name
    if url_or_name.startswith(("https://", "http://")):
        path = urlsplit(url_or_name).path.strip("/").split("/")
        account, name = path[-2], path[-1]
        return _arn("sqs", region, name, account)
    return _arn("sqs", region, url_or_name)


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
_SES_NAME = {"sesv2": "ses"}


def requests_of(service: str, operation: str, params: Mapping[str, Any], region: str = REGION) -> list[IamRequest]:
    """The IAM requests one API call needs; :class:`UnmappedCallError` for a call not described here."""
    if service == "dynamodb":
        return _dynamodb(operation, params, region)
    if service == "sqs":
        actions = {
            "SendMessage": "SendMessage",
            "SendMessageBatch": "SendMessage",
            "ChangeMessageVisibility": "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
            "ReceiveMessage": "ReceiveMessage",
            "DeleteMessage": "DeleteMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "GetQueueAttributes": "GetQueueAttributes",
        }
        if operation == "GetQueueUrl":
            owner = params.get("QueueOwnerAWSAccountId") or ACCOUNT
            return [IamRequest("sqs:GetQueueUrl", _arn("sqs", region, params["QueueName"], owner))]
        if operation in actions:
            return [IamRequest(f"sqs:{actions[operation]}", _queue(params["QueueUrl"], region))]
    if service == "scheduler":
        if operation in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule"):
            group = params.get("GroupName") or "default"
            schedule = _arn("scheduler", region, f"schedule/{group}/{params['Name']}")
            found = [IamRequest(f"scheduler:{operation}", schedule)]
            role = (params.get("Target") or {}).get("RoleArn")
            if operation in ("CreateSchedule", "UpdateSchedule") and role:
                found.append(IamRequest("iam:PassRole", role, (("iam:PassedToService", "scheduler.amazonaws.com"),)))
            return found
        if operation == "ListSchedules":
            return [IamRequest("scheduler:ListSchedules", "*")]
    if service in ("sesv2", "ses") and operation in ("SendEmail", "SendRawEmail"):
        return _ses(operation, params, region)
    if service == "ses" and operation == "GetSendQuota":
        return [IamRequest("ses:GetSendQuota", "*")]
    if service == "secretsmanager" and operation in (
        "GetSecretValue",
        "DescribeSecret",
        "PutSecretValue",
        "CreateSecret",
    ):
        # CreateSecret is authorized on the new secret's ARN: its name (and a suffix that a trailing * matches).
        secret = str(params["Name"] if operation == "CreateSecret" else params["SecretId"])
        resource = secret if secret.startswith("arn:") else _arn("secretsmanager", region, f"secret:{secret}")
        return [IamRequest(f"secretsmanager:{operation}", resource)]
    if service == "events" and operation == "PutEvents":
        buses = {str(entry.get("EventBusName") or "default") for entry in params.get("Entries", [])}
        arns = {bus if bus.startswith("arn:") else _arn("events", region, f"event-bus/{bus}") for bus in buses}
        return [IamRequest("events:PutEvents", arn) for arn in sorted(arns)]
    if service == "sns" and operation == "Publish":
        return [IamRequest("sns:Publish", str(params.get("TopicArn") or params.get("TargetArn")))]
    raise UnmappedCallError(f"no IAM mapping for {service}:{operation}")


def _dynamodb(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable"):
        return [IamRequest(f"dynamodb:{operation}", _table(region, params["TableName"]))]
    if operation in ("Query", "Scan"):
        return [IamRequest(f"dynamodb:{operation}", _table(region, params["TableName"], params.get("IndexName")))]
    if operation == "TransactWriteItems":
        found = []
        for item in params["TransactItems"]:
            for kind, body in item.items():
                found.append(IamRequest(f"dynamodb:{_TRANSACT[kind]}", _table(region, body["TableName"])))
        return sorted(set(found))
    if operation == "TransactGetItems":
        tables = {item["Get"]["TableName"] for item in params["TransactItems"]}
        return [IamRequest("dynamodb:GetItem", _table(region, t)) for t in sorted(tables)]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [IamRequest(f"dynamodb:{operation}", _table(region, t)) for t in sorted(params["RequestItems"])]
    raise UnmappedCallError(f"no IAM mapping for dynamodb:{operation}")


def _ses(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    """SES authorizes a send on the sender's identity and, when one is named, the configuration set; the From
    address is the ``ses:FromAddress`` condition key of both."""
    sender = str(params.get("FromEmailAddress") or params.get("Source") or "")
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    context = (("ses:FromAddress", address),)
    found = [IamRequest(f"ses:{operation}", _arn("ses", region, f"identity/{address}"), context)]
    configuration_set = params.get("ConfigurationSetName")
    if configuration_set:
        found.append(
            IamRequest(f"ses:{operation}", _arn("ses", region, f"configuration-set/{configuration_set}"), context)
        )
    return found


# --- the roles and their grants ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One entry of a function's role as the template lists it, with its statements resolved."""

    function: str  # the function's logical id
    label: str  # "DynamoDBCrudPolicy(RunsTable)", "OneTimeSchedules scheduler:CreateSchedule", ...
    statements: tuple[Mapping[str, Any], ...] = field(repr=False, compare=False, hash=False)

    def allows(self, request: IamRequest) -> bool:
        return any(_statement_allows(s, request) for s in self.statements if s.get("Effect") == "Allow")

    def denies(self, request: IamRequest) -> bool:
        return any(_statement_allows(s, request) for s in self.statements if s.get("Effect") == "Deny")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if ignore_case else 0) is not None


_CONDITIONS = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": lambda want, got: _wildcard(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _wildcard(want, got),
}


def _statement_allows(statement: Mapping[str, Any], request: IamRequest) -> bool:
    """Whether a statement matches a request (its Effect is the caller's business)."""
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise NotImplementedError(f"{unsupported} is not understood by this evaluator")
    if not any(_wildcard(str(a), request.action, ignore_case=True) for a in _listed(statement.get("Action", []))):
        return False
    if not any(_wildcard(str(r), request.resource) for r in _listed(statement.get("Resource", []))):
        return False
    context = {key.lower(): value for key, value in request.context}
    for operator, tests in (statement.get("Condition") or {}).items():
        if operator not in _CONDITIONS:
            raise NotImplementedError(f"condition operator {operator} is not understood by this evaluator")
        for key, wanted in tests.items():
            got = context.get(key.lower())
            if got is None or not any(_CONDITIONS[operator](str(w), got) for w in _listed(wanted)):
                return False
    return True


def _label(entry: Any) -> str:
    """How the template's ``Policies`` list names an entry: a policy template and its resource."""
    if isinstance(entry, str):
        return entry
    [(name, parameters)] = entry.items()
    named = [
        v.get("Ref") or (v.get("Fn::GetAtt") or ["?"])[0] if isinstance(v, dict) else str(v)
        for v in (parameters or {}).values()
    ]
    return f"{name}({', '.join(str(n) for n in named)})"


@cache
def _grants(settings_key: tuple[tuple[str, Any], ...]) -> tuple[Grant, ...]:
    settings = Settings.model_validate(dict(settings_key))
    binding = Binding.of(settings)
    translated = translate()
    source = source_template()["Resources"]
    grants: list[Grant] = []
    for logical_id in sorted(function_ids().values()):
        role_ref = translated["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        role = translated["Resources"][role_ref]["Properties"]
        listed = source[logical_id]["Properties"].get("Policies", [])
        for policy in role.get("Policies", []):
            name = str(policy["PolicyName"])
            statements = [binding.resolve(s) for s in _listed(policy["PolicyDocument"]["Statement"])]
            index = name.removeprefix(f"{role_ref}Policy")
            entry = listed[int(index)] if index.isdigit() and int(index) < len(listed) else None
            if isinstance(entry, dict) and set(entry) == {"Statement"}:
                # A statement of the template: each of its actions is one grant.
                for position, statement in enumerate(statements):
                    sid = statement.get("Sid") or f"Statement{position}"
                    for action in _listed(statement["Action"]):
                        single = {**statement, "Action": action}
                        grants.append(Grant(logical_id, f"{sid} {action}", (single,)))
            else:
                label = _label(entry) if entry is not None else f"{name} (added by SAM)"
                grants.append(Grant(logical_id, label, tuple(statements)))
    return tuple(grants)


def grants_of(settings: Settings) -> list[Grant]:
    """Every grant of every function's role, resolved for a stack with these settings."""
    key = tuple(sorted(settings.model_dump().items()))
    return list(_grants(key))


def managed_policies() -> dict[str, list[str]]:
    """The AWS-managed policies SAM attaches (logs, X-Ray, queue polling): not evaluated here."""
    translated = translate()
    out = {}
    for function, logical_id in function_ids().items():
        role_ref = translated["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        out[function] = list(translated["Resources"][role_ref]["Properties"].get("ManagedPolicyArns", []))
    return out


def allowing(grants: Iterable[Grant], function: str, request: IamRequest) -> list[Grant]:
    """The grants of a function's role that allow a request (none if one of them denies it)."""
    own = [g for g in grants if g.function == function]
    if any(g.denies(request) for g in own):
        return []
    return [g for g in own if g.allows(request)]


# --- what the handlers asked for -------------------------------------------------------------------------


@dataclass
class RequestLog:
    """The IAM requests the handlers made, per function (logical id), each with the first call that needed it."""

    seen: dict[tuple[str, IamRequest], str] = field(default_factory=dict)
    unmapped: dict[tuple[str, str], str] = field(default_factory=dict)

    def record(self, call: AwsCall, _response: Any = None) -> None:
        """Keep a call's IAM requests; never fails (a call it cannot map is kept as unmapped, with why)."""
        function = function_ids().get(call.function, call.function)
        try:
            requests = requests_of(call.service, call.operation, call.params, call.region)
        except Exception as exc:
            self.unmapped.setdefault((function, call.name), f"{call.describe()}: {exc}")
            return
        for request in requests:
            self.seen.setdefault((function, request), call.name)

    def functions(self) -> list[str]:
        return sorted({function for function, _ in self.seen})

    def operations(self, function: str) -> list[str]:
        """The API operations a function made, each with the IAM requests it needed (schedules by group)."""
        found: dict[str, set[str]] = {}
        for (owner, request), name in self.seen.items():
            if owner == function:
                found.setdefault(name, set()).add(f"{request.action} {_short(request.resource)}")
        return [f"{name}: {', '.join(sorted(found[name]))}" for name in sorted(found)]


def _short(resource: str) -> str:
    """An ARN without its partition, region and account (``dynamodb:table/test-runs``), schedules by group."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return resource
    name = parts[5]
    if parts[2] == "scheduler" and name.startswith("schedule/"):
        name = name.rsplit("/", 1)[0] + "/*"
    return f"{parts[2]}:{name}"
