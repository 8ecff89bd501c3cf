"""Sending e-mail with SES (the notify worker's ``shared.notify.sending.Send``)."""

from __future__ import annotations

from email.message import EmailMessage

from botocore.exceptions import ClientError

from shared import aws
from shared.notify.sending import Rejected, Send

# SES's answers that concern this one message (its address, its content), not SES itself: the
# message is recorded as failed and the others go on. Anything else (throttling, a 5xx) raises,
# and the worker's record is retried.
REJECTIONS = frozenset({"MessageRejected", "InvalidParameterValue", "MailFromDomainNotVerifiedException"})


def ses_sender(*, source: str, configuration_set: str | None) -> Send:
    def send(mail: EmailMessage, recipient: str) -> str:
        try:
            response = aws.client("ses").send_raw_email(
                Source=source,
                Destinations=[recipient],
                RawMessage={"Data": mail.as_bytes()},
                **({"ConfigurationSetName": configuration_set} if configuration_set else {}),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in REJECTIONS:
                raise Rejected(f"{error.get('Code')}: {error.get('Message') or ''}") from None
            raise
        message_id: str = response["MessageId"]
        return message_id

    return send
