"""Stand-in for OpenAIService with canned answers (spec §6.5), for tests and development."""
from taleweaver.storage.crypto import mask_secret


class MockOpenAIService:
    backend_type = "chatgpt"

    def __init__(self, api_key, default_model=None):
        self.api_key = api_key
        self.default_model = default_model

    def mask_api_key(self):
        return mask_secret(self.api_key)

    def get_models(self):
        return ['gpt-4o', 'gpt-4o-mini']

    def test_connection(self, generate=False, model=None):
        return {'status': 'connected', 'models': self.get_models()}

    def chat_completion(self, payload, stream=False):
        return {'object': 'chat.completion', 'model': payload.get('model') or self.default_model,
                'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'A short tale.'},
                             'finish_reason': 'stop'}]}
