#!/usr/bin/env bash
# Lints the AWS SAM template with cfn-lint and `sam validate --lint`.
# Works offline once the tools are installed; called from `make test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TEMPLATE=template.yaml

command -v cfn-lint >/dev/null || python3 -m pip install --quiet cfn-lint
command -v sam >/dev/null || python3 -m pip install --quiet aws-sam-cli

export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export SAM_CLI_TELEMETRY=0

status=0

echo "==> cfn-lint $TEMPLATE"
cfn-lint "$TEMPLATE" || status=1

echo "==> sam validate --lint --template $TEMPLATE"
sam validate --lint --template "$TEMPLATE" || status=1

# One stack per Okta org, side by side: every physical name must come from a parameter or
# another resource, never a literal.
echo "==> no fixed physical names in $TEMPLATE"
# (The Serverless Application Repository's application Name is metadata, not a resource.)
fixed=$(sed '/^  AWS::ServerlessRepo::Application:/,/^  [A-Za-z]/{/^    Name:/d}' "$TEMPLATE" \
    | grep -nE '^\s+(BucketName|QueueName|FunctionName|RoleName|TopicName|DashboardName|AlarmName|SecretName|Name|LogGroupName|ScheduleName|AliasName):' \
    | grep -vE ':\s+!(Ref|Sub|GetAtt|If)\b' || true)
if [ -n "$fixed" ]; then
    echo "fixed physical names would stop a second stack from deploying:" >&2
    echo "$fixed" >&2
    status=1
fi

if [ "$status" -ne 0 ]; then
    echo "lint-template: FAILED" >&2
else
    echo "lint-template: OK"
fi
exit "$status"
